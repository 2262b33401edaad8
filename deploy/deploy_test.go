// Package deploy holds the files that run PhantomDB nodes outside phantom:
// a Dockerfile, a docker compose file and Kubernetes manifests. Nothing here
// can run them (no docker or kubectl on CI); the test parses them and checks
// that the command lines they hold are ones phantom accepts and that the
// names they wire together agree.
package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The flags of `phantom node` and `phantom run`, true for those that take a
// value. They must match main.go's flag sets: a manifest using a flag phantom
// does not define would fail at start-up on every cluster it is deployed to.
var (
	nodeFlags = map[string]bool{
		"id": true, "listen": true, "advertise": true, "data": true,
		"storage": true, "log": true, "parent-lease": true,
	}
	runFlags = map[string]bool{
		"profile": true, "suites": true, "nodes": true, "shards": true, "net-delay": true,
		"storage": true, "rate": true, "at": true, "transactions": true, "queries": true,
		"clients": true, "duration": true, "data-size": true, "op-timeout": true,
		"report": true, "markdown": true, "csv": true, "json": false, "seed": true,
		"nemesis": true, "raft-log": true, "metrics-addr": true,
		"cluster": true, "node-cpus": true,
	}
)

// parseArgs checks a phantom command line (without the program name) and
// returns its subcommand and flags.
func parseArgs(args []string) (string, map[string]string, error) {
	if len(args) == 0 {
		return "", nil, errors.New("no subcommand")
	}
	var known map[string]bool
	switch args[0] {
	case "node":
		known = nodeFlags
	case "run":
		known = runFlags
	default:
		return "", nil, fmt.Errorf("subcommand %q is neither node nor run", args[0])
	}
	flags := map[string]string{}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return "", nil, fmt.Errorf("unexpected argument %q", a)
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes, ok := known[name]
		if !ok {
			return "", nil, fmt.Errorf("phantom %s has no flag --%s", args[0], name)
		}
		if takes && !hasValue {
			if i+1 == len(args) {
				return "", nil, fmt.Errorf("--%s has no value", name)
			}
			i++
			value = args[i]
		}
		if _, dup := flags[name]; dup && name != "at" {
			return "", nil, fmt.Errorf("--%s given twice", name)
		}
		flags[name] = value
	}
	if args[0] == "node" {
		for name := range nodeFlags {
			if _, ok := flags[name]; !ok {
				return "", nil, fmt.Errorf("phantom node without --%s", name)
			}
		}
		if s := flags["storage"]; s != "memory" && s != "disk" {
			return "", nil, fmt.Errorf("--storage %q is neither memory nor disk", s)
		}
	}
	return args[0], flags, nil
}

func TestParseArgs(t *testing.T) {
	node := []string{"node", "--id", "n1", "--listen", "0.0.0.0:7000", "--advertise", "n1", "--data", "/d", "--storage", "memory", "--log", "/l", "--parent-lease", "0"}
	if _, f, err := parseArgs(node); err != nil || f["advertise"] != "n1" {
		t.Fatalf("parseArgs(%q) = %v, %v", node, f, err)
	}
	for _, bad := range [][]string{
		{"node", "--id", "n1"}, // flags missing
		append(append([]string{}, node...), "--bogus", "1"),
		append(append([]string{}, node...), "--id"),
		append(append([]string{}, node[:12]...), "--storage", "tape"),
		{"serve"},
		{"run", "--cluster"},
		{"run", "stray"},
	} {
		if _, _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%q) accepted", bad)
		}
	}
	if _, f, err := parseArgs([]string{"run", "--json", "--cluster=join=a:1"}); err != nil || f["cluster"] != "join=a:1" {
		t.Errorf("run --json --cluster=join=a:1: %v, %v", f, err)
	}
}

// joinAddrs splits a --cluster join=HOST:PORT,... value.
func joinAddrs(t *testing.T, cluster string) []string {
	t.Helper()
	list, ok := strings.CutPrefix(cluster, "join=")
	if !ok || list == "" {
		t.Fatalf("--cluster %q is not join=HOST:PORT,...", cluster)
	}
	return strings.Split(list, ",")
}

func port(t *testing.T, listen string) string {
	t.Helper()
	i := strings.LastIndex(listen, ":")
	if i < 0 {
		t.Fatalf("--listen %q has no port", listen)
	}
	return listen[i+1:]
}

type composeFile struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image       string         `yaml:"image"`
		Command     []string       `yaml:"command"`
		Profiles    []string       `yaml:"profiles"`
		DependsOn   map[string]any `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

func TestCompose(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	nodes := map[string]string{} // service → port
	var runs []map[string]string
	for name, s := range c.Services {
		sub, flags, err := parseArgs(s.Command)
		if err != nil {
			t.Errorf("service %s: %v", name, err)
			continue
		}
		if s.Image != "phantom:dev" {
			t.Errorf("service %s runs image %q, not the one built here", name, s.Image)
		}
		switch sub {
		case "node":
			if flags["id"] != name || flags["advertise"] != name {
				t.Errorf("service %s: --id %q, --advertise %q; both must be the service name, which the others resolve", name, flags["id"], flags["advertise"])
			}
			if flags["parent-lease"] != "0" {
				t.Errorf("service %s: --parent-lease %q; a node the container runtime keeps needs 0", name, flags["parent-lease"])
			}
			if !strings.HasPrefix(flags["listen"], "0.0.0.0:") {
				t.Errorf("service %s: --listen %q is not reachable from the other containers", name, flags["listen"])
			}
			p := port(t, flags["listen"])
			nodes[name] = p
			if s.Build == nil || filepath.Join(s.Build.Context, s.Build.Dockerfile) != filepath.Join("..", "deploy", "Dockerfile") {
				t.Errorf("service %s does not build deploy/Dockerfile: %+v", name, s.Build)
			} else if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Error(err)
			}
			if s.Healthcheck == nil || !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "/dev/tcp/127.0.0.1/"+p) {
				t.Errorf("service %s: health check %+v does not open port %s", name, s.Healthcheck, p)
			}
		case "run":
			runs = append(runs, flags)
			for dep := range s.DependsOn {
				if _, ok := c.Services[dep]; !ok {
					t.Errorf("service %s depends on %s, which is not a service", name, dep)
				}
			}
		}
	}
	if len(nodes) != 3 || len(runs) != 1 {
		t.Fatalf("%d node services and %d runs; want 3 and 1", len(nodes), len(runs))
	}
	addrs := joinAddrs(t, runs[0]["cluster"])
	if len(addrs) != len(nodes) {
		t.Errorf("join %v does not name the %d nodes", addrs, len(nodes))
	}
	for _, a := range addrs {
		host, p, _ := strings.Cut(a, ":")
		if nodes[host] != p {
			t.Errorf("join address %s is not a node service's advertised name and port", a)
		}
	}
}

// k8sObject is the part of a manifest the test reads.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		ClusterIP   string `yaml:"clusterIP"`
		ServiceName string `yaml:"serviceName"`
		Replicas    int    `yaml:"replicas"`
		Ports       []struct {
			Port int `yaml:"port"`
		} `yaml:"ports"`
		Template struct {
			Spec struct {
				Containers []container `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		ValueFrom struct {
			FieldRef struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	ReadinessProbe struct {
		TCPSocket struct {
			Port int `yaml:"port"`
		} `yaml:"tcpSocket"`
	} `yaml:"readinessProbe"`
}

func readManifests(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in k8s/: %v", err)
	}
	var objs []k8sObject
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var node yaml.Node
			err := dec.Decode(&node)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var o k8sObject
			if err := node.Decode(&o); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" {
				continue // an empty document
			}
			objs = append(objs, o)
		}
	}
	return objs
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkEnvRefs checks that every $(VAR) in a container's args is defined in
// its env: Kubernetes leaves an undefined one in the argument as it is.
func checkEnvRefs(t *testing.T, who string, c container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom.FieldRef.FieldPath
	}
	for _, a := range c.Args {
		for _, m := range envRef.FindAllStringSubmatch(a, -1) {
			if _, ok := env[m[1]]; !ok {
				t.Errorf("%s: argument %q uses $(%s), which its env does not define", who, a, m[1])
			}
		}
	}
	return env
}

func TestKubernetes(t *testing.T) {
	objs := readManifests(t)
	var svc, sts, job *k8sObject
	for i := range objs {
		switch o := &objs[i]; o.Kind {
		case "Service":
			svc = o
		case "StatefulSet":
			sts = o
		case "Job":
			job = o
		}
	}
	if svc == nil || sts == nil || job == nil {
		t.Fatalf("want a Service, a StatefulSet and a Job; got %+v", objs)
	}
	if svc.Spec.ClusterIP != "None" {
		t.Errorf("Service %s is not headless (clusterIP %q)", svc.Metadata.Name, svc.Spec.ClusterIP)
	}
	if sts.Spec.ServiceName != svc.Metadata.Name {
		t.Errorf("StatefulSet's serviceName %q is not the headless Service %q: its pods get no DNS names", sts.Spec.ServiceName, svc.Metadata.Name)
	}
	if sts.Spec.Replicas != 3 || len(sts.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("StatefulSet: %d replicas, %d containers; want 3 and 1", sts.Spec.Replicas, len(sts.Spec.Template.Spec.Containers))
	}
	node := sts.Spec.Template.Spec.Containers[0]
	env := checkEnvRefs(t, "StatefulSet", node)
	if env["POD_NAME"] != "metadata.name" || env["NAMESPACE"] != "metadata.namespace" {
		t.Errorf("StatefulSet env %v: want POD_NAME and NAMESPACE from the downward API", env)
	}
	sub, flags, err := parseArgs(node.Args)
	if err != nil || sub != "node" {
		t.Fatalf("StatefulSet runs %q: %v", node.Args, err)
	}
	wantAdv := "$(POD_NAME)." + svc.Metadata.Name + ".$(NAMESPACE).svc"
	if flags["advertise"] != wantAdv || flags["id"] != "$(POD_NAME)" || flags["parent-lease"] != "0" {
		t.Errorf("StatefulSet: --advertise %q --id %q --parent-lease %q; want %q, $(POD_NAME), 0", flags["advertise"], flags["id"], flags["parent-lease"], wantAdv)
	}
	p := port(t, flags["listen"])
	if fmt.Sprint(node.ReadinessProbe.TCPSocket.Port) != p || len(svc.Spec.Ports) != 1 || fmt.Sprint(svc.Spec.Ports[0].Port) != p {
		t.Errorf("listen port %s, readiness probe port %d, Service ports %+v: they must agree", p, node.ReadinessProbe.TCPSocket.Port, svc.Spec.Ports)
	}

	if len(job.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Job has %d containers", len(job.Spec.Template.Spec.Containers))
	}
	run := job.Spec.Template.Spec.Containers[0]
	checkEnvRefs(t, "Job", run)
	sub, flags, err = parseArgs(run.Args)
	if err != nil || sub != "run" {
		t.Fatalf("Job runs %q: %v", run.Args, err)
	}
	addrs := joinAddrs(t, flags["cluster"])
	if len(addrs) != sts.Spec.Replicas {
		t.Errorf("Job joins %d nodes, the StatefulSet has %d", len(addrs), sts.Spec.Replicas)
	}
	for i, a := range addrs {
		want := fmt.Sprintf("%s-%d.%s.$(NAMESPACE).svc:%s", sts.Metadata.Name, i, svc.Metadata.Name, p)
		if a != want {
			t.Errorf("Job's join address %d is %q, want pod %d's name %q", i, a, i, want)
		}
	}
	if node.Image != run.Image {
		t.Errorf("nodes run %q, the Job %q", node.Image, run.Image)
	}
}
