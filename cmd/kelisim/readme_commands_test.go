package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's commands are run as written: the set-up command that runs
// the gateway, and the onboarding walk-through, block by block, in bash
// with curl, jq and openssl. (The second set-up command, make test, is
// what runs this.)

// readmeSection returns the text of the README section headed title.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	i := strings.Index(s, "\n## "+title+"\n")
	if i < 0 {
		t.Fatalf("README has no section %q", title)
	}
	s = s[i+len(title)+5:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}

var shBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// cleanEnv is this process's environment without the gateway's variables,
// as on a machine that never set them.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KELISIM_") && !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			env = append(env, kv)
		}
	}
	return env
}

// repoView is a temporary directory that looks like the repository's root
// (its top level linked), so commands written for the root run there
// without leaving files in the work tree.
func repoView(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == ".git" || e.Name() == "bin" {
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func requireTools(t *testing.T, tools ...string) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed, and CI=true: the README's commands must run", tool)
			}
			t.Skipf("%s is not installed: skipping the README's commands", tool)
		}
	}
}

// `go run ./cmd/kelisim serve` on a fresh machine: the gateway answers on
// the README's address, on the embedded store.
func TestReadmeServe(t *testing.T) {
	if !strings.Contains(readmeSection(t, "Set up"), "    go run ./cmd/kelisim serve\n") {
		t.Fatal("the README's set-up no longer says go run ./cmd/kelisim serve")
	}
	cmd := exec.Command("go", "run", "./cmd/kelisim", "serve")
	cmd.Dir, cmd.Env = repoView(t), cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &syncBuffer{} // written by the process's copier while the test reads it
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(2 * time.Minute) // go run builds first
	for {
		resp, err := http.Get("http://127.0.0.1:8080/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("go run ./cmd/kelisim serve never answered on 127.0.0.1:8080:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "Admin token for this run (shown once):") {
		t.Errorf("no admin token printed:\n%s", out.String())
	}
	// The README's default for the collector (cleanEnv leaves out GOGC).
	if !strings.Contains(out.String(), `msg="garbage collector" gogc=400 gogc_from=kelisim`) {
		t.Errorf("no garbage collector line with the README's GOGC:\n%s", out.String())
	}
}

// The onboarding walk-through, every block in order, as one bash script.
func TestReadmeOnboardingWalkthrough(t *testing.T) {
	requireTools(t, "bash", "curl", "jq", "openssl")
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, m := range shBlock.FindAllStringSubmatch(readmeSection(t, "Walk-through: onboarding a partner"), -1) {
		script.WriteString(m[1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir, cmd.Env = repoView(t), cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // a gateway the script left running
	if err != nil {
		t.Fatalf("the walk-through failed (%v):\n%s", err, out)
	}
	for _, want := range []string{`"client_secret"`, `documents:id_card documents:driver_license`, `"field": "client_name"`, `"active": true`,
		`"suspended"`, `"request_unauthorized"`, `"partner.suspend"`, `"partner.create"`,
		"client secret (shown this once; give it to the partner now): ", "CLIENT ID ", "Demo Bank", "\nactive\n",
		"ID  CLIENT ID  KIND  DOCUMENT  STATUS  ATTEMPTS  NEXT ATTEMPT  LAST ERROR", "\n/api/v1/documents/{type}\n", "\n/grants/{id}/deletion\n"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the walk-through's output lacks %s:\n%s", want, out)
		}
	}
}
