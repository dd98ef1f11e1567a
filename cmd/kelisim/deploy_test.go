package main

// Over 400 lines because it runs the shipped deploy files as written (Kubernetes manifests and compose),
// which needs a small YAML reader for their environment and a process harness beside the two tests.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
)

// The deploy files are run as shipped: the binary is started with exactly
// the environment each file gives it, read from the files. Only the listen
// addresses move to free loopback ports (pods and containers each have
// their own network; here they share one), and what Kubernetes secrets
// hold is made up by the test.

// binary builds the gateway once per test run.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "kelisim-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kelisim")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// process is the gateway binary running as a child process.
type process struct {
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{} // closed when it has exited
	err    error         // its exit error, once done
}

// startBinary runs the gateway binary with args and exactly env, stopped
// with SIGTERM when the test ends.
func startBinary(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(bin, args...), output: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return
		default:
		}
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Errorf("kelisim %s did not stop on SIGTERM", strings.Join(args, " "))
		}
	})
	return p
}

// wait returns the exit error of a process that must end by itself.
func (p *process) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(60 * time.Second):
		t.Fatalf("still running:\n%s", p.output)
		return nil
	}
}

// waitReady polls url until it answers 200.
func waitReady(t *testing.T, p *process, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("exited (%v) before %s answered 200:\n%s", p.err, url, p.output)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s never answered 200:\n%s", url, p.output)
}

// dockerfileEnv is what the image's last stage sets with ENV.
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "FROM ") {
			clear(env) // only the last stage's ENV reaches the image
		}
		rest, ok := strings.CutPrefix(line, "ENV ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("Dockerfile: ENV %q is not KEY=VALUE", kv)
			}
			env[k] = v
		}
	}
	return env
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// relisten moves the listen addresses env sets to free loopback ports,
// after checking each port is the one the file publishes (ports names
// the published container ports by variable), and returns the new ones.
func relisten(t *testing.T, env map[string]string, ports map[string]int) map[string]string {
	t.Helper()
	moved := map[string]string{}
	for name, want := range ports {
		addr, ok := env[name]
		if !ok {
			t.Fatalf("%s is published on port %d but the environment does not set it", name, want)
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port != fmt.Sprint(want) {
			t.Fatalf("%s is %q but the port published for it is %d", name, addr, want)
		}
		env[name] = freeAddr(t)
		moved[name] = env[name]
	}
	return moved
}

func envList(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// Kubernetes objects, as far as the test reads them.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas int `yaml:"replicas"`
		Template struct {
			Spec k8sPodSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sPodSpec struct {
	TerminationGracePeriodSeconds int            `yaml:"terminationGracePeriodSeconds"`
	Containers                    []k8sContainer `yaml:"containers"`
	Volumes                       []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type k8sContainer struct {
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string  `yaml:"name"`
		Value     *string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
	ReadinessProbe *struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	} `yaml:"readinessProbe"`
}

func k8sObjects(t *testing.T) map[string]k8sObject {
	t.Helper()
	return k8sObjectsIn(t, "../../deploy/k8s/kelisim.yaml")
}

func k8sObjectsIn(t *testing.T, path string) map[string]k8sObject {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs := map[string]k8sObject{}
	dec := yaml.NewDecoder(f)
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		objs[o.Kind+"/"+o.Metadata.Name] = o
	}
	return objs
}

// podEnv is the environment of a pod's container: the image's ENV, then
// the manifest's env, secrets looked up in secrets, and files of mounted
// secret volumes written under dir (the paths rewritten to match).
func podEnv(t *testing.T, pod k8sPodSpec, c k8sContainer, secrets map[string]map[string]string, dir string) map[string]string {
	t.Helper()
	env := dockerfileEnv(t)
	for _, e := range c.Env {
		switch {
		case e.Value != nil:
			env[e.Name] = *e.Value
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secrets[ref.Name][ref.Key]
			if !ok {
				t.Fatalf("%s: the test has no value for secret %s key %s", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		default:
			t.Fatalf("%s: a kind of value the test does not know", e.Name)
		}
	}
	for _, m := range c.VolumeMounts {
		secretName := ""
		for _, v := range pod.Volumes {
			switch {
			case v.Name == m.Name && v.Secret != nil:
				secretName = v.Secret.SecretName
			case v.Name == m.Name && v.ConfigMap != nil:
				secretName = v.ConfigMap.Name // the test holds config maps' data beside the secrets'
			}
		}
		if secretName == "" {
			t.Fatalf("volume %s: only secret and config map volumes are known to the test", m.Name)
		}
		local := filepath.Join(dir, secretName)
		if err := os.MkdirAll(local, 0o700); err != nil {
			t.Fatal(err)
		}
		for key, content := range secrets[secretName] {
			if err := os.WriteFile(filepath.Join(local, key), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for k, v := range env {
			if rest, ok := strings.CutPrefix(v, m.MountPath+"/"); ok {
				if _, ok := secrets[secretName][rest]; !ok {
					t.Fatalf("%s names %s, which secret %s does not hold", k, v, secretName)
				}
				env[k] = filepath.Join(local, rest)
			}
		}
	}
	return env
}

// The Kubernetes manifests: the migration Job with its environment, then
// two replicas of the Deployment with theirs, each ready on the probe's
// path; the placeholders start a gateway that is ready.
func TestKubernetesManifestsStart(t *testing.T) {
	t.Parallel() // it waits out the drain window
	objs := k8sObjects(t)
	job, ok := objs["Job/kelisim-migrate"]
	if !ok {
		t.Fatal("no Job kelisim-migrate")
	}
	dep, ok := objs["Deployment/kelisim"]
	if !ok {
		t.Fatal("no Deployment kelisim")
	}
	if dep.Spec.Replicas < 2 {
		t.Errorf("the Deployment runs %d replicas", dep.Spec.Replicas)
	}
	cert, key, ca := registryClientCert(t)
	secrets := map[string]map[string]string{
		"kelisim": {"database-url": pgtest.URL(t), "secret": randomToken(), "admin-token": randomToken(),
			"sms-token": "sms-provider-token"},
		"kelisim-registry-tls": {"tls.crt": cert, "tls.key": key, "ca.crt": ca},
		"kelisim-trust-list":   {"trust-list.json": readFile(t, demoTrustList(t))},
	}
	dir := t.TempDir()

	migrate := job.Spec.Template.Spec.Containers[0]
	p := startBinary(t, envList(podEnv(t, job.Spec.Template.Spec, migrate, secrets, dir)), migrate.Args...)
	if err := p.wait(t); err != nil {
		t.Fatalf("the migration Job failed (%v):\n%s", err, p.output)
	}

	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	published := map[string]int{}
	for _, port := range c.Ports {
		published[map[string]string{"http": "KELISIM_ADDR", "metrics": "KELISIM_METRICS_ADDR", "admin": "KELISIM_ADMIN_ADDR"}[port.Name]] = port.ContainerPort
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Port != "http" {
		t.Fatal("the Deployment has no readiness probe on the http port")
	}
	var replicas []*process
	var ready []string
	for replica := range dep.Spec.Replicas {
		env := podEnv(t, pod, c, secrets, dir)
		if env["KELISIM_REGISTRY"] != "http" || env["KELISIM_SMS"] != "http" {
			t.Errorf("replica %d runs registry %q and SMS %q; production needs both over http", replica, env["KELISIM_REGISTRY"], env["KELISIM_SMS"])
		}
		addrs := relisten(t, env, published)
		p := startBinary(t, envList(env), c.Args...)
		waitReady(t, p, "http://"+addrs["KELISIM_ADDR"]+c.ReadinessProbe.HTTPGet.Path)
		replicas, ready = append(replicas, p), append(ready, "http://"+addrs["KELISIM_ADDR"]+c.ReadinessProbe.HTTPGet.Path)
		resp, err := http.Get("http://" + addrs["KELISIM_ADMIN_ADDR"] + "/admin/v1/partners")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("replica %d: the admin port answered %d without a token, want 401", replica, resp.StatusCode)
		}
	}
	// A rolling update sends SIGTERM: each replica fails its probe at once,
	// keeps answering through the drain window, and exits cleanly within
	// the pod's grace period.
	for _, p := range replicas {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for i := range replicas {
		status := 0
		for deadline := time.Now().Add(2 * time.Second); status != http.StatusServiceUnavailable && time.Now().Before(deadline); {
			resp, err := http.Get(ready[i])
			if err != nil {
				t.Errorf("replica %d refused its probe right after SIGTERM: %v", i, err)
				break
			}
			resp.Body.Close()
			status = resp.StatusCode
			time.Sleep(20 * time.Millisecond)
		}
		if status != http.StatusServiceUnavailable {
			t.Errorf("replica %d answered its probe %d after SIGTERM, want 503", i, status)
		}
	}
	for i, p := range replicas {
		select {
		case <-p.done:
			if p.err != nil {
				t.Errorf("replica %d exited with %v:\n%s", i, p.err, p.output)
			}
		case <-time.After(time.Duration(pod.TerminationGracePeriodSeconds) * time.Second):
			t.Errorf("replica %d still running after the grace period of %ds", i, pod.TerminationGracePeriodSeconds)
		}
	}
}

// The Helm chart's production example, as rendered (deploy/helm keeps the
// rendering current), gives the gateway a configuration it accepts: the
// pooler and direct URLs, traces, push, the settings in env.
func TestProductionChartConfigures(t *testing.T) {
	objs := k8sObjectsIn(t, "../../deploy/helm/testdata/production.rendered.yaml")
	dep, ok := objs["Deployment/kelisim"]
	if !ok {
		t.Fatal("no Deployment kelisim")
	}
	cert, key, ca := registryClientCert(t)
	secrets := map[string]map[string]string{
		"kelisim": {"database-url": "postgres://kelisim@pgbouncer.internal:6432/kelisim",
			"database-direct-url": "postgres://kelisim@postgres.internal:5432/kelisim", "secret": randomToken(),
			"admin-token": randomToken(), "sms-token": "sms-provider-token", "push-token": "push-token"},
		"kelisim-registry-tls": {"tls.crt": cert, "tls.key": key, "ca.crt": ca},
		"kelisim-trust-list":   {"trust-list.json": readFile(t, demoTrustList(t))},
	}
	pod := dep.Spec.Template.Spec
	env := podEnv(t, pod, pod.Containers[0], secrets, t.TempDir())
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DirectURL == "" || cfg.DBMaxConns != 32 || cfg.PushURL == "" || cfg.Registry != "http" || cfg.SMS != "http" {
		t.Errorf("the production values did not reach the configuration: %+v", cfg)
	}
	if env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "" {
		t.Error("the production values turn on no traces")
	}
}

var composeVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}`)

// interpolate expands ${VAR}, ${VAR:-default} and ${VAR:?error} as docker
// compose does.
func interpolate(t *testing.T, s string, shell map[string]string) string {
	return composeVar.ReplaceAllStringFunc(s, func(m string) string {
		g := composeVar.FindStringSubmatch(m)
		v := shell[g[1]]
		switch {
		case v != "":
			return v
		case g[2] == ":?":
			t.Fatalf("compose would stop: %s", g[3])
		}
		return g[3]
	})
}

// registryClientCert makes a CA and a client certificate it signed, in
// PEM: what the operator puts in the registry TLS secret.
func registryClientCert(t *testing.T) (cert, key, ca string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "registry CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clientTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kelisim"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTmpl, caTmpl, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(clientKey)
	enc := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	return enc("CERTIFICATE", clientDER), enc("EC PRIVATE KEY", keyDER), enc("CERTIFICATE", caDER)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
