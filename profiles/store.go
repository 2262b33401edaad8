package profiles

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// ErrNotFound is returned, wrapped, by Find when no profile has the name.
var ErrNotFound = errors.New("profile not found")

// SourceBuiltin is the Source of an Entry embedded in the binary.
const SourceBuiltin = "builtin"

//go:embed builtin/*.toml
var builtinFS embed.FS

// builtinNames are the built-in profiles in the order List shows them: the
// default first, then by weight.
var builtinNames = []string{"quick", "demo", "seed", "stress", "formal", "chaos"}

// Entry is one profile as List shows it.
type Entry struct {
	Name        string
	Source      string // SourceBuiltin, or the user profile's path
	Description string
	// Shadowed is set on a built-in when a user profile of the same name
	// takes its place.
	Shadowed bool
	// Err is why a user profile does not load; List lists it anyway so
	// that one broken file does not hide the others.
	Err error
}

// Dir is the directory of user profiles: $XDG_CONFIG_HOME/phantom/profiles
// or, when XDG_CONFIG_HOME is unset or relative, ~/.config/phantom/profiles.
func Dir() (string, error) {
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "phantom", "profiles"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the profile directory: set XDG_CONFIG_HOME or HOME (%v)", err)
	}
	return filepath.Join(home, ".config", "phantom", "profiles"), nil
}

// Find returns the profile called name. A name that contains a path
// separator or ends in ".toml" is a file to load; otherwise a user profile
// (Dir()/NAME.toml) is preferred to a built-in of the same name. An unknown
// name is an error wrapping ErrNotFound that lists the known names.
func Find(name string) (Profile, error) {
	if isPath(name) {
		return Load(name)
	}
	if validName.MatchString(name) {
		if dir, err := Dir(); err == nil {
			path := filepath.Join(dir, name+".toml")
			if _, err := os.Stat(path); err == nil {
				return loadNamed(path, name)
			}
		}
		if data, err := builtinFS.ReadFile("builtin/" + name + ".toml"); err == nil {
			return parseBuiltin(name, data)
		}
	}
	known := slices.Clone(builtinNames)
	if users, err := userEntries(); err == nil {
		for _, u := range users {
			if !slices.Contains(known, u.Name) {
				known = append(known, u.Name)
			}
		}
	}
	return Profile{}, fmt.Errorf("%w: no profile named %q; known profiles: %s (or give a path to a .toml file)",
		ErrNotFound, name, strings.Join(known, ", "))
}

func isPath(name string) bool {
	return strings.ContainsRune(name, '/') || strings.ContainsRune(name, filepath.Separator) || strings.HasSuffix(name, ".toml")
}

// validName is what a saved profile may be called: a file name that needs
// no quoting and cannot leave the directory.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// nameRule says in words what validName allows.
const nameRule = "use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"

// ValidName says whether name may name a saved profile, as Save checks
// it, so a screen that asks for a name can refuse one Save would: nil, or
// an error saying what a name may be.
func ValidName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%q is not a profile name: %s", name, nameRule)
	}
	return nil
}

// loadNamed loads a profile found by name, whose name key (if any) must
// agree with its file name, or Find("a") could return a profile called "b".
func loadNamed(path, name string) (Profile, error) {
	p, err := Load(path)
	if err != nil {
		return Profile{}, err
	}
	if p.Name != name {
		data, _ := os.ReadFile(path)
		return Profile{}, &Error{File: path, Line: keyLine(data, "name", ""), Key: "name",
			Msg: fmt.Sprintf("name = %q differs from the file's name %q; rename the file or remove the key", p.Name, name)}
	}
	return p, nil
}

func parseBuiltin(name string, data []byte) (Profile, error) {
	return Parse("builtin/"+name+".toml", data)
}

// List returns the built-in profiles and then the user profiles by name.
// A missing profile directory is no error; a user profile that does not
// load is listed with its Err set.
func List() ([]Entry, error) {
	users, err := userEntries()
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, name := range builtinNames {
		data, err := builtinFS.ReadFile("builtin/" + name + ".toml")
		if err != nil {
			return nil, err
		}
		p, err := parseBuiltin(name, data)
		if err != nil {
			return nil, err
		}
		e := Entry{Name: name, Source: SourceBuiltin, Description: p.Description}
		e.Shadowed = slices.ContainsFunc(users, func(u Entry) bool { return u.Name == name })
		out = append(out, e)
	}
	return append(out, users...), nil
}

// userEntries lists the profiles in Dir, sorted by name.
func userEntries() ([]Entry, error) {
	dir, err := Dir()
	if err != nil {
		return nil, nil // no home: no user profiles, the built-ins still work
	}
	files, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list the profile directory: %v", err)
	}
	var out []Entry
	for _, f := range files {
		name, ok := strings.CutSuffix(f.Name(), ".toml")
		if !ok || f.IsDir() || !validName.MatchString(name) {
			continue
		}
		path := filepath.Join(dir, f.Name())
		e := Entry{Name: name, Source: path}
		p, err := loadNamed(path, name)
		e.Description, e.Err = p.Description, err
		out = append(out, e)
	}
	return out, nil // os.ReadDir sorts by file name
}

// Save validates p and writes it to Dir()/NAME.toml, creating the
// directory, atomically: a reader sees the old file or the new one, never
// half of one. It returns the path written.
func Save(p Profile) (string, error) {
	if err := ValidName(p.Name); err != nil {
		return "", fmt.Errorf("cannot save a profile named %q: %s", p.Name, nameRule)
	}
	if err := p.Validate(); err != nil {
		return "", fmt.Errorf("cannot save profile %q: %w", p.Name, err)
	}
	data, err := Marshal(p)
	if err != nil {
		return "", err
	}
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cannot create the profile directory: %v", err)
	}
	path := filepath.Join(dir, p.Name+".toml")
	if err := writeAtomic(path, data); err != nil {
		return "", fmt.Errorf("cannot save profile %q to %s: %v", p.Name, path, err)
	}
	return path, nil
}

// writeAtomic writes data to a temporary file beside path, syncs it and
// renames it over path.
func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Marshal writes p as a complete TOML profile file, every key included,
// which Parse reads back to p.
func Marshal(p Profile) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# phantom profile %q. Every key is optional: a key left out takes its default.\n\n", p.Name)
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("cannot write profile %q as TOML: %v", p.Name, err)
	}
	return b.Bytes(), nil
}
