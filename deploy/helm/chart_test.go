package helm

// Over 400 lines because it checks each kind of object the chart renders
// against the others (selectors, ports, secrets, hooks), for three sets of values.

import (
	"bytes"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/scheme"
)

var update = flag.Bool("update", false, "rewrite deploy/k8s/kelisim.yaml and testdata/production.rendered.yaml from the chart")

const (
	chartDir    = "kelisim"
	releaseName = "kelisim"
	namespace   = "kelisim"
	manifests   = "../k8s/kelisim.yaml"
	// productionManifests is production.yaml rendered, for deploy_test.go.
	productionManifests = "testdata/production.rendered.yaml"
)

// rendered is the chart as `helm install` would send it: the hooks, then
// the release's objects in install order, each decoded strictly into its
// Kubernetes type.
type rendered struct {
	hooks     []*release.Hook
	manifests []releaseutil.Manifest
	objects   map[string]runtime.Object // by Kind/name
	notes     string
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// values reads a values file ("" for none) and lays overrides over it.
func values(t *testing.T, file string, overrides map[string]any) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if file != "" {
		v, err := common.ReadValuesFile(file)
		if err != nil {
			t.Fatal(err)
		}
		vals = v
	}
	return chartutil.CoalesceTables(overrides, vals)
}

// render renders the chart with vals as an install of release kelisim,
// failing on a template that reads a value the chart does not define.
func render(t *testing.T, vals map[string]any) (*rendered, error) {
	t.Helper()
	c := loadChart(t)
	top, err := chartutil.ToRenderValues(c, vals, common.ReleaseOptions{Name: releaseName, Namespace: namespace, IsInstall: true}, nil)
	if err != nil {
		return nil, err
	}
	files, err := engine.Engine{Strict: true}.RenderWithContext(t.Context(), c, top)
	if err != nil {
		return nil, err
	}
	r := &rendered{objects: map[string]runtime.Object{}}
	for name, content := range files {
		if path.Base(name) == "NOTES.txt" {
			r.notes = content
			delete(files, name)
		}
	}
	r.hooks, r.manifests, err = releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	decoder := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, json.SerializerOptions{Yaml: true, Strict: true})
	decode := func(source, manifest string) {
		obj, gvk, err := decoder.Decode([]byte(manifest), nil, nil)
		if err != nil {
			t.Fatalf("%s: %v\n%s", source, err, manifest)
		}
		if !slices.Contains(checked, gvk.Kind) {
			t.Fatalf("%s: the chart renders a %s, which this test does not check", source, gvk.Kind)
		}
		meta, err := apimeta.Accessor(obj)
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		key := gvk.Kind + "/" + meta.GetName()
		if _, dup := r.objects[key]; dup {
			t.Fatalf("%s: %s is rendered twice", source, key)
		}
		r.objects[key] = obj
	}
	for _, h := range r.hooks {
		decode(h.Path, h.Manifest)
	}
	for _, m := range r.manifests {
		decode(m.Name, m.Content)
	}
	return r, nil
}

// checked are the kinds of object this test knows how to check.
var checked = []string{"Deployment", "Job", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy"}

func get[T runtime.Object](t *testing.T, r *rendered, key string) T {
	t.Helper()
	o, ok := r.objects[key].(T)
	if !ok {
		t.Fatalf("no %s among %v", key, slices.Sorted(mapKeys(r.objects)))
	}
	return o
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// The chart passes helm lint and renders, with its defaults and with the
// production example, objects Kubernetes accepts field for field, that fit
// together: selectors find the pods, ports and probes name the container's
// ports, secrets are only referenced, migrations run in a hook before the
// replicas start, and the admin API is only behind its own Service.
func TestChartRendersObjectsThatFit(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		overrides  map[string]any
		check      func(*testing.T, *rendered)
	}{
		{"default", "", nil, func(t *testing.T, r *rendered) {
			for _, absent := range []string{"HorizontalPodAutoscaler/kelisim", "Ingress/kelisim", "NetworkPolicy/kelisim"} {
				if _, ok := r.objects[absent]; ok {
					t.Errorf("%s is rendered by default", absent)
				}
			}
			if d := get[*appsv1.Deployment](t, r, "Deployment/kelisim"); d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
				t.Errorf("the default Deployment runs %v replicas, want 2", d.Spec.Replicas)
			}
			if !strings.Contains(r.notes, "placeholder") {
				t.Errorf("the notes do not warn of the placeholders:\n%s", r.notes)
			}
		}},
		{"replicas that migrate", "", map[string]any{"migration": map[string]any{"enabled": false}}, func(t *testing.T, r *rendered) {
			if len(r.hooks) != 0 {
				t.Errorf("hooks with migrations off: %v", r.hooks)
			}
		}},
		{"an issuer with a port, behind an Ingress", "", map[string]any{"issuer": "https://consent.example.kz:8443",
			"ingress": map[string]any{"enabled": true, "tlsSecret": "tls"}}, func(t *testing.T, r *rendered) {
			get[*networkingv1.Ingress](t, r, "Ingress/kelisim")
		}},
		{"production", "production.yaml", nil, func(t *testing.T, r *rendered) {
			get[*autoscalingv2.HorizontalPodAutoscaler](t, r, "HorizontalPodAutoscaler/kelisim")
			get[*networkingv1.Ingress](t, r, "Ingress/kelisim")
			get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy/kelisim")
			job := get[*batchv1.Job](t, r, "Job/kelisim-migrate")
			if env := envOf(job.Spec.Template.Spec.Containers[0]); env["KELISIM_DATABASE_DIRECT_URL"] == nil {
				t.Error("behind PgBouncer the migration Job is not given the direct URL")
			}
			env := envOf(get[*appsv1.Deployment](t, r, "Deployment/kelisim").Spec.Template.Spec.Containers[0])
			for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "KELISIM_PUSH_URL", "KELISIM_PUSH_TOKEN", "KELISIM_DB_MAX_CONNS", "KELISIM_DATABASE_DIRECT_URL"} {
				if env[name] == nil {
					t.Errorf("the production replicas are not given %s", name)
				}
			}
			if strings.Contains(r.notes, "placeholder") {
				t.Errorf("the notes warn of placeholders that production values replaced:\n%s", r.notes)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := values(t, tc.file, tc.overrides)
			linted := lint.RunAll(chartDir, vals, namespace)
			for _, m := range linted.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				}
			}
			r, err := render(t, vals)
			if err != nil {
				t.Fatal(err)
			}
			c := loadChart(t)
			merged, err := chartutil.CoalesceValues(c, vals)
			if err != nil {
				t.Fatal(err)
			}
			checkObjects(t, r, merged)
			tc.check(t, r)
		})
	}
}

// checkObjects checks what holds for any values.
func checkObjects(t *testing.T, r *rendered, vals common.Values) {
	t.Helper()
	secretName := vals["secrets"].(map[string]any)["name"].(string)
	for key, obj := range r.objects {
		meta, _ := apimeta.Accessor(obj)
		errs := validation.IsDNS1123Subdomain(meta.GetName())
		if _, ok := obj.(*corev1.Service); ok {
			errs = validation.IsDNS1035Label(meta.GetName())
		}
		if len(errs) > 0 {
			t.Errorf("%s: name: %v", key, errs)
		}
		for k, v := range meta.GetLabels() {
			if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(errs) > 0 {
				t.Errorf("%s: label %s=%s: %v", key, k, v, errs)
			}
		}
	}
	dep := get[*appsv1.Deployment](t, r, "Deployment/kelisim")
	pod := dep.Spec.Template
	podLabels := labels.Set(pod.Labels)
	var jobPodLabels labels.Set
	if job, ok := r.objects["Job/kelisim-migrate"].(*batchv1.Job); ok {
		jobPodLabels = job.Spec.Template.Labels
	}
	// A selector that also finds the migration Job's pod (which stays,
	// Completed) blocks every eviction under the PodDisruptionBudget: the
	// disruption controller cannot scale a Job.
	selects := func(what string, sel *metav1.LabelSelector) {
		t.Helper()
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || s.Empty() || !s.Matches(podLabels) {
			t.Errorf("%s: selector %v does not find the gateway's pods %v (%v)", what, sel, pod.Labels, err)
		}
		if err == nil && jobPodLabels != nil && s.Matches(jobPodLabels) {
			t.Errorf("%s: selector %v also finds the migration Job's pod %v", what, sel, jobPodLabels)
		}
	}
	selects("Deployment", dep.Spec.Selector)
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers in the gateway's pod", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	checkContainer(t, "Deployment", pod.Spec, c, secretName)
	env := envOf(c)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, variable := range map[string]string{"http": "KELISIM_ADDR", "metrics": "KELISIM_METRICS_ADDR", "admin": "KELISIM_ADMIN_ADDR"} {
		if want := fmt.Sprintf("0.0.0.0:%d", ports[name]); env[variable] == nil || env[variable].Value != want {
			t.Errorf("the %s port is %d but %s is %v", name, ports[name], variable, env[variable])
		}
	}
	for what, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("no %s probe on the http port: %+v", what, probe)
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("the readiness probe asks %s, not /readyz (which fails while draining)", c.ReadinessProbe.HTTPGet.Path)
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.TimeoutSeconds <= 2 {
		t.Errorf("the readiness probe gives up after %ds, before the gateway's own 2s check of the database", c.ReadinessProbe.TimeoutSeconds)
	}
	var wait time.Duration
	// The gateway refuses a drain over 5m and a shutdown over 10m.
	for name, most := range map[string]time.Duration{"KELISIM_DRAIN_TIMEOUT": 5 * time.Minute, "KELISIM_SHUTDOWN_TIMEOUT": 10 * time.Minute} {
		d, err := time.ParseDuration(value(env, name))
		if err != nil || d < 0 || d > most {
			t.Errorf("%s is %q, which the gateway refuses (a duration up to %v)", name, value(env, name), most)
		}
		wait += d
	}
	margin := time.Duration(vals["shutdown"].(map[string]any)["graceMarginSeconds"].(float64)) * time.Second
	if grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second; grace < wait+margin {
		t.Errorf("the grace period %v does not cover the drain and the shutdown (%v) with %v to spare: pods would be killed mid-request", grace, wait, margin)
	}

	// Migrations: a Job run as a hook before install and upgrade, and then
	// the replicas do not migrate; without it, they do.
	var migrate *batchv1.Job
	for _, h := range r.hooks {
		job, ok := r.objects[h.Kind+"/"+h.Name].(*batchv1.Job)
		if !ok {
			t.Errorf("hook %s/%s is not a Job", h.Kind, h.Name)
			continue
		}
		migrate = job
		for _, event := range []release.HookEvent{release.HookPreInstall, release.HookPreUpgrade} {
			if !slices.Contains(h.Events, event) {
				t.Errorf("the migration Job does not run %s", event)
			}
		}
		if slices.Contains(h.DeletePolicies, release.HookSucceeded) {
			t.Error("the migration Job is deleted when it succeeds, and its log with it")
		}
	}
	if migrate == nil && c.StartupProbe != nil {
		deadline := time.Duration(vals["migration"].(map[string]any)["activeDeadlineSeconds"].(float64)) * time.Second
		if budget := time.Duration(c.StartupProbe.PeriodSeconds*c.StartupProbe.FailureThreshold) * time.Second; budget < deadline {
			t.Errorf("replicas migrate as they start, and the startup probe kills them after %v, before a migration's %v", budget, deadline)
		}
	}
	switch {
	case migrate == nil && value(env, "KELISIM_MIGRATE") != "true":
		t.Error("no migration Job, and the replicas do not migrate either")
	case migrate != nil && value(env, "KELISIM_MIGRATE") != "false":
		t.Error("the migration Job migrates, and so does every replica as it starts")
	case migrate != nil:
		if len(migrate.Spec.Template.Spec.Containers) != 1 || !slices.Equal(migrate.Spec.Template.Spec.Containers[0].Args, []string{"migrate"}) {
			t.Errorf("the migration Job runs %v", migrate.Spec.Template.Spec.Containers)
		}
		mc := migrate.Spec.Template.Spec.Containers[0]
		if rp := migrate.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever {
			t.Errorf("the migration Job restarts %s: its failed pod, and the log of why, is deleted at the backoff limit", rp)
		}
		checkContainer(t, "Job", migrate.Spec.Template.Spec, mc, secretName)
		if mc.Image != c.Image {
			t.Errorf("the Job migrates with %s and the replicas run %s", mc.Image, c.Image)
		}
		for name := range envOf(mc) {
			if !strings.HasPrefix(name, "KELISIM_DATABASE_") {
				t.Errorf("the migration Job is given %s, which migrate does not need", name)
			}
		}
	}

	// Services: the public one reaches only the http port, the admin one
	// only the admin port.
	for key, wantPorts := range map[string][]string{"Service/kelisim": {"http"}, "Service/kelisim-admin": {"admin"}} {
		svc := get[*corev1.Service](t, r, key)
		selects(key, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
		var got []string
		for _, p := range svc.Spec.Ports {
			if _, ok := ports[p.TargetPort.StrVal]; !ok {
				t.Errorf("%s: port %s targets %v, which the container does not name", key, p.Name, p.TargetPort)
			}
			got = append(got, p.TargetPort.StrVal)
		}
		if !slices.Equal(got, wantPorts) {
			t.Errorf("%s reaches %v, want %v", key, got, wantPorts)
		}
	}
	for key, obj := range r.objects {
		if svc, ok := obj.(*corev1.Service); ok && key != "Service/kelisim" && key != "Service/kelisim-admin" {
			t.Errorf("%s: a Service the test does not know (%v)", key, svc.Spec.Ports)
		}
	}

	// Replicas: fixed, or an autoscaler's; the budget lets a node drain.
	minReplicas := int32(0)
	if hpa, ok := r.objects["HorizontalPodAutoscaler/kelisim"].(*autoscalingv2.HorizontalPodAutoscaler); ok {
		if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != dep.Name {
			t.Errorf("the autoscaler scales %s/%s", ref.Kind, ref.Name)
		}
		if dep.Spec.Replicas != nil {
			t.Error("the Deployment sets replicas beside its autoscaler: each upgrade resets the scale")
		}
		minReplicas = *hpa.Spec.MinReplicas
	} else if dep.Spec.Replicas != nil {
		minReplicas = *dep.Spec.Replicas
	}
	if minReplicas < 2 {
		t.Errorf("%d replicas: a node's drain takes the gateway down", minReplicas)
	}
	if pdb, ok := r.objects["PodDisruptionBudget/kelisim"].(*policyv1.PodDisruptionBudget); !ok {
		t.Error("no PodDisruptionBudget")
	} else {
		selects("PodDisruptionBudget", pdb.Spec.Selector)
		if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MinAvailable != nil {
			t.Errorf("the budget sets minAvailable %v, maxUnavailable %v: set maxUnavailable, which holds as replicas scale", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
		} else if n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(minReplicas), true); err != nil || n < 1 || n >= int(minReplicas) {
			t.Errorf("maxUnavailable %v of %d replicas: a node can never drain, or every replica can go at once", pdb.Spec.MaxUnavailable, minReplicas)
		}
	}

	if ing, ok := r.objects["Ingress/kelisim"].(*networkingv1.Ingress); ok {
		issuer, _ := url.Parse(vals["issuer"].(string))
		for _, rule := range ing.Spec.Rules {
			if rule.Host != issuer.Hostname() {
				t.Errorf("the Ingress serves %s, the issuer is %s", rule.Host, issuer)
			}
			for _, p := range rule.HTTP.Paths {
				if b := p.Backend.Service; b == nil || b.Name != "kelisim" || b.Port.Name != "http" {
					t.Errorf("the Ingress sends %s to %+v, not the public Service's http port", p.Path, p.Backend)
				}
			}
		}
		if len(ing.Spec.TLS) != 1 || !slices.Contains(ing.Spec.TLS[0].Hosts, issuer.Hostname()) {
			t.Errorf("the Ingress has no TLS for %s: %+v", issuer.Hostname(), ing.Spec.TLS)
		}
	}
	if np, ok := r.objects["NetworkPolicy/kelisim"].(*networkingv1.NetworkPolicy); ok {
		selects("NetworkPolicy", &np.Spec.PodSelector)
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 {
				t.Errorf("the NetworkPolicy lets anyone reach %v", rule.Ports)
			}
			for _, p := range rule.Ports {
				if _, ok := ports[p.Port.StrVal]; !ok {
					t.Errorf("the NetworkPolicy opens port %v, which the container does not name", p.Port)
				}
			}
		}
	}
}

// checkContainer checks what a pod of either kind must hold: no secret
// given as a literal, every reference to the operator's Secret, resources
// and a locked-down security context.
func checkContainer(t *testing.T, what string, pod corev1.PodSpec, c corev1.Container, secretName string) {
	t.Helper()
	for _, e := range c.Env {
		secretish := strings.Contains(e.Name, "SECRET") || strings.Contains(e.Name, "TOKEN") || strings.Contains(e.Name, "DATABASE")
		switch {
		case secretish && e.ValueFrom == nil:
			t.Errorf("%s: %s is a literal in the manifest, not a reference to a Secret", what, e.Name)
		case e.ValueFrom != nil && (e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != secretName):
			t.Errorf("%s: %s comes from %+v, not from Secret %s", what, e.Name, e.ValueFrom, secretName)
		}
	}
	req := c.Resources.Requests
	if req.Cpu().IsZero() || req.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: resources %+v: want CPU and memory requests and a memory limit", what, c.Resources)
	}
	sc := c.SecurityContext
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
		sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: runs as root, writes its filesystem or may escalate: %+v %+v", what, pod.SecurityContext, sc)
	}
	if pod.SecurityContext != nil && (pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser == 0) {
		t.Errorf("%s: runAsNonRoot without a numeric runAsUser: the kubelet refuses the image's named user", what)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a service account token it never uses", what)
	}
	mounted := map[string]string{}
	for _, m := range c.VolumeMounts {
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 {
			t.Errorf("%s: mounts %s, which the pod does not have", what, m.Name)
		}
		mounted[m.MountPath] = m.Name
	}
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Value, "/") {
			continue
		}
		if _, ok := mounted[path.Dir(e.Value)]; !ok {
			t.Errorf("%s: %s names %s, in no mounted volume", what, e.Name, e.Value)
		}
	}
}

// value is the literal value env gives name, "" when it gives none.
func value(env map[string]*corev1.EnvVar, name string) string {
	if e := env[name]; e != nil {
		return e.Value
	}
	return ""
}

func envOf(c corev1.Container) map[string]*corev1.EnvVar {
	env := map[string]*corev1.EnvVar{}
	for i, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			panic(fmt.Sprintf("%s is set twice", e.Name))
		}
		env[e.Name] = &c.Env[i]
	}
	return env
}

// Values that would render a broken release are refused before anything
// is rendered, by the chart's schema, with the value named.
func TestChartRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overrides map[string]any
		want      string
	}{
		{"replicas as a word", map[string]any{"replicaCount": "two"}, "replicaCount"},
		{"a misspelt value", map[string]any{"replicas": 3}, "replicas"},
		{"a secret among plain settings", map[string]any{"env": map[string]any{"KELISIM_ADMIN_TOKEN": "x"}}, "env"},
		{"a setting the chart owns", map[string]any{"env": map[string]any{"KELISIM_ADDR": "0.0.0.0:1"}}, "env"},
		{"an SMS provider there is not", map[string]any{"sms": map[string]any{"provider": "smtp"}}, "provider"},
		{"a digest that is a tag", map[string]any{"image": map[string]any{"digest": "latest"}}, "digest"},
		{"no key for the signing secret", map[string]any{"secrets": map[string]any{"keys": map[string]any{"secret": ""}}}, "secret"},
		{"an issuer that is no URL", map[string]any{"issuer": "kelisim.example.kz"}, "issuer"},
		{"an issuer over plain http", map[string]any{"issuer": "http://kelisim.example.kz"}, "issuer"},
		{"an Ingress for an IP address", map[string]any{"issuer": "https://10.1.2.3", "ingress": map[string]any{"enabled": true}}, "IP address"},
		{"a number among the settings", map[string]any{"env": map[string]any{"KELISIM_OTP_IP_LIMIT": 2500000}}, "env"},
		{"a registry without a trust list", map[string]any{"trustList": map[string]any{"configMap": ""}}, "trustList"},
		{"a trace endpoint without its scheme", map[string]any{"tracing": map[string]any{"otlpEndpoint": "otel-collector:4318"}}, "otlpEndpoint"},
		{"a proxy list with an empty entry", map[string]any{"trustedProxies": "10.0.0.0/8,"}, "trustedProxies"},
		{"fewer replicas at most than at least", map[string]any{"autoscaling": map[string]any{"enabled": true, "minReplicas": 8, "maxReplicas": 3}}, "minReplicas"},
		{"a budget without its limit", map[string]any{"podDisruptionBudget": map[string]any{"maxUnavailable": nil}}, "maxUnavailable"},
		{"a readiness probe quicker than the gateway's check", map[string]any{"readinessProbe": map[string]any{"timeoutSeconds": 1}}, "timeoutSeconds"},
		{"a memory limit left out", map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": nil}}}, "memory"},
		{"a drain longer than the gateway allows", map[string]any{"shutdown": map[string]any{"drainSeconds": 600}}, "drainSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, values(t, "", tc.overrides))
			if err == nil {
				t.Fatalf("rendered with %v", tc.overrides)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the refusal does not name %s:\n%v", tc.want, err)
			}
		})
	}
}

// header opens the manifests generated for those who apply them without Helm.
const header = `# GENERATED from the chart deploy/helm/kelisim with its default values by
# "make manifests"; change the chart, not this file. With Helm, install the
# chart itself (README: Kubernetes).
#
# Kelisim on Kubernetes: a migration Job, then a Deployment of stateless
# replicas sharing PostgreSQL, a public Service and an admin Service.
#
# Before applying, create the secrets (nothing secret is in this file):
#   kubectl create secret generic kelisim \
#     --from-literal=database-url='postgres://kelisim:…@postgres.internal:5432/kelisim?sslmode=verify-full' \
#     --from-literal=secret="$(openssl rand -base64 48)" \
#     --from-literal=admin-token="$(openssl rand -base64 48)" \
#     --from-literal=sms-token='<the SMS provider API token>'
#   kubectl create secret generic kelisim-registry-tls \
#     --from-file=tls.crt=client.crt --from-file=tls.key=client.key \
#     --from-file=ca.crt=registry-ca.crt        # mutual TLS to the state registry
#   kubectl create configmap kelisim-trust-list \
#     --from-file=trust-list.json               # the issuing authorities' keys (README: trust list)
#
# and replace every value marked PLACEHOLDER in the chart's values (or here):
# the public issuer URL, the proxies in front of the gateway, the SMS
# provider's endpoint and the state registry's endpoint. The gateway starts
# and reports ready with the placeholders, but sends no SMS and finds no
# citizen until they are real.
#
# Without Helm nothing runs the Job first; migrate, then start the rest:
#   kubectl delete job kelisim-migrate --ignore-not-found
#   kubectl apply -f kelisim.yaml -l app.kubernetes.io/component=migrate
#   kubectl wait --for=condition=complete job/kelisim-migrate --timeout=30m
#   kubectl apply -f kelisim.yaml
#
# From the manifests before the chart (selector app: kelisim): Kubernetes
# will not change a Deployment's selector, so delete the Deployment first
# (kubectl delete deployment kelisim; the Services move with the apply).
# To hand an install to Helm instead, delete its objects, then helm install.
#
# cmd/kelisim/deploy_test.go starts the binary with exactly this
# environment (listen ports moved to free loopback ports) on PostgreSQL.
`

// The manifests in deploy/k8s are the chart rendered with its defaults,
// so whoever applies them gets what Helm would install; testdata holds the
// production example's rendering.
func TestRawManifestsAreTheChart(t *testing.T) {
	r, err := render(t, values(t, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString(header)
	for _, h := range r.hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, strings.TrimSpace(h.Manifest))
	}
	for _, m := range r.manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, strings.TrimSpace(m.Content))
	}
	keep(t, manifests, b.Bytes())
	// The production example's rendering, whose environment
	// cmd/kelisim/deploy_test.go hands to the gateway's configuration.
	r, err = render(t, values(t, "production.yaml", nil))
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	for _, m := range r.manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, strings.TrimSpace(m.Content))
	}
	keep(t, productionManifests, b.Bytes())
}

// keep checks that the file at path holds want, first writing it with -update.
func keep(t *testing.T, path string, want []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Errorf("%s is not the chart's rendering; run make manifests", path)
	}
}
