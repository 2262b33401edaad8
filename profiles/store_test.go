package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// userDir points the user profile directory at a fresh temporary one.
func userDir(t *testing.T) string {
	t.Helper()
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	return filepath.Join(cfg, "phantom", "profiles")
}

func writeUser(t *testing.T, dir, name, src string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDir(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	if d, _ := Dir(); d != "/xdg/phantom/profiles" {
		t.Errorf("Dir() = %q with XDG_CONFIG_HOME set", d)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, _ := Dir(); d != "/home/u/.config/phantom/profiles" {
		t.Errorf("Dir() = %q without XDG_CONFIG_HOME", d)
	}
	t.Setenv("XDG_CONFIG_HOME", "relative") // the XDG spec says to ignore it
	if d, _ := Dir(); d != "/home/u/.config/phantom/profiles" {
		t.Errorf("Dir() = %q with a relative XDG_CONFIG_HOME", d)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := userDir(t)
	p := Default()
	p.Name = "tuned"
	p.Description = "Tuned live in the TUI: \"hot\" keys\nand a slow network."
	p.Suites = []string{"consensus", "txn"}
	p.Nodes, p.Shards, p.Clients = 7, 14, 64
	p.Duration = Duration(90 * time.Second)
	p.DataSize = 64 << 10
	p.Rate = 2500.5
	p.NetDelay = Duration(15 * time.Millisecond)
	p.Storage = StorageDisk
	p.Transactions, p.Queries = 0, 123
	p.Tick = Duration(100 * time.Millisecond)
	p.Window = 8
	p.MemoryBudget = 2 << 30
	p.Seed = -42
	p.At = []string{"10s:clients=50", "20s:kill-leader"}
	p.Keys = Keys{Distribution: Hotspot, ZipfS: 2.5, HotFraction: 0.05, HotOpsFraction: 0.75}
	p.Baselines = Baselines{
		MaxAvgLatency:            Duration(50 * time.Millisecond),
		MaxP99Latency:            Duration(1500 * time.Microsecond),
		MinThroughput:            1234.5,
		MinScalabilityEfficiency: 0.85,
		WarmUp:                   Duration(3 * time.Second),
	}

	path, err := Save(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "tuned.toml"); path != want {
		t.Errorf("Save wrote %s; want %s", path, want)
	}
	for _, load := range []func() (Profile, error){
		func() (Profile, error) { return Load(path) },
		func() (Profile, error) { return Find("tuned") },
	} {
		got, err := load()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("round trip changed the profile:\ngot  %+v\nwant %+v", got, p)
		}
	}

	// Saving again replaces the file and leaves no temporary file behind.
	p.Nodes = 9
	if _, err := Save(p); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Errorf("profile directory holds %d files; want only tuned.toml", len(files))
	}
	if got, _ := Find("tuned"); got.Nodes != 9 {
		t.Errorf("after the second save nodes = %d; want 9", got.Nodes)
	}
}

func TestEveryBuiltinRoundTrips(t *testing.T) {
	userDir(t)
	for _, name := range builtinNames {
		p, err := Find(name)
		if err != nil {
			t.Fatal(err)
		}
		data, err := Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(name+".toml", data)
		if err != nil {
			t.Fatalf("%s: Parse(Marshal) = %v\n%s", name, err, data)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("%s: Marshal/Parse changed it:\ngot  %+v\nwant %+v", name, got, p)
		}
	}
}

// ValidName refuses what Save refuses and accepts what Save accepts, so a
// screen asking for a name can check it first.
func TestValidName(t *testing.T) {
	for name, ok := range map[string]bool{
		"tuned": true, "my-run_2.v1": true, "A": true, strings.Repeat("x", 64): true,
		"": false, "../evil": false, "a/b": false, ".hidden": false, "has space": false, "-dash": false, strings.Repeat("x", 65): false,
	} {
		if err := ValidName(name); (err == nil) != ok {
			t.Errorf("ValidName(%q) = %v; want ok %v", name, err, ok)
		}
	}
}

func TestSaveRefuses(t *testing.T) {
	dir := userDir(t)
	for _, name := range []string{"", "../evil", "a/b", ".hidden", "has space"} {
		p := Default()
		p.Name = name
		if _, err := Save(p); err == nil {
			t.Errorf("Save named %q succeeded", name)
		}
	}
	p := Default()
	p.Name = "bad"
	p.Nodes = 0
	if _, err := Save(p); err == nil || !strings.Contains(err.Error(), "cannot save profile \"bad\": nodes must be between 1 and 100, got 0") {
		t.Errorf("Save(invalid) = %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused save touched the profile directory: %v", err)
	}
}

func TestFindPrecedence(t *testing.T) {
	dir := userDir(t)

	// A built-in by name.
	q, err := Find("quick")
	if err != nil || q.Name != "quick" || q.Nodes != 3 {
		t.Fatalf("Find(quick) = %+v, %v", q, err)
	}

	// A user profile of the same name shadows it.
	writeUser(t, dir, "quick", "description = \"my quick\"\nnodes = 4\n")
	q, err = Find("quick")
	if err != nil || q.Nodes != 4 || q.Description != "my quick" {
		t.Errorf("Find(quick) with a user quick = %+v, %v", q, err)
	}

	// A path loads that file, whatever its name.
	other := filepath.Join(t.TempDir(), "seed.toml")
	if err := os.WriteFile(other, []byte("nodes = 11\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{other, "./" + filepath.Base(other)} {
		if ref[0] == '.' {
			t.Chdir(filepath.Dir(other))
		}
		p, err := Find(ref)
		if err != nil || p.Nodes != 11 || p.Name != "seed" {
			t.Errorf("Find(%q) = %+v, %v", ref, p, err)
		}
	}

	// A missing file given as a path does not fall back to a built-in.
	t.Chdir(t.TempDir())
	if _, err := Find("seed.toml"); err == nil {
		t.Error(`Find("seed.toml") fell back to the built-in seed`)
	}

	// An unknown name lists what there is.
	writeUser(t, dir, "mine", "nodes = 2\n")
	_, err = Find("nosuch")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Find(nosuch) = %v; want ErrNotFound", err)
	}
	for _, n := range []string{`"nosuch"`, "quick", "seed", "demo", "stress", "formal", "mine"} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("%q does not list %s", err, n)
		}
	}
	if strings.Count(err.Error(), "quick") != 1 {
		t.Errorf("%q lists quick twice", err)
	}
}

func TestFindUserProfileErrors(t *testing.T) {
	dir := userDir(t)
	path := writeUser(t, dir, "broken", "nodes = 3\nclients = 0\n")
	_, err := Find("broken")
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: clients must be between 1 and 10000, got 0") {
		t.Errorf("Find(broken) = %v", err)
	}

	path = writeUser(t, dir, "alias", "\nname = \"other\"\n")
	_, err = Find("alias")
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: name = \"other\" differs") {
		t.Errorf("Find(alias) = %v", err)
	}
}

func TestList(t *testing.T) {
	dir := userDir(t)
	entries, err := List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
		if e.Source != SourceBuiltin || e.Description == "" || e.Shadowed || e.Err != nil {
			t.Errorf("built-in entry %+v", e)
		}
	}
	if !slices.Equal(names, []string{"quick", "demo", "seed", "stress", "formal", "chaos"}) {
		t.Errorf("built-ins listed as %v", names)
	}

	writeUser(t, dir, "zeta", "description = \"last\"\n")
	writeUser(t, dir, "alpha", "description = \"first\"\n")
	writeUser(t, dir, "seed", "description = \"my seed\"\n")
	broken := writeUser(t, dir, "broken", "nodes = [\n")
	writeUser(t, dir, "notes", "")
	if err := os.Rename(filepath.Join(dir, "notes.toml"), filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatal(err)
	}

	entries, err = List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]Entry{}
	names = names[:0]
	for _, e := range entries {
		got[e.Name] = append(got[e.Name], e)
		names = append(names, e.Name)
	}
	if want := []string{"quick", "demo", "seed", "stress", "formal", "chaos", "alpha", "broken", "seed", "zeta"}; !slices.Equal(names, want) {
		t.Errorf("listed %v; want %v", names, want)
	}
	if s := got["seed"]; len(s) != 2 || !s[0].Shadowed || s[1].Source != filepath.Join(dir, "seed.toml") || s[1].Description != "my seed" {
		t.Errorf("seed entries %+v", s)
	}
	if b := got["broken"]; len(b) != 1 || b[0].Err == nil || !strings.HasPrefix(b[0].Err.Error(), broken+":1: malformed TOML") {
		t.Errorf("broken entry %+v", b)
	}
}
