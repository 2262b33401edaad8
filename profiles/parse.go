package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/phantomdb/phantom/profiles/knob"
)

// Error is a problem with a profile: one line naming the file, the line,
// the key and what is allowed, such as
//
//	profiles/x.toml:7: unknown key "nodez" (did you mean "nodes"?); known keys: …
//	x.toml:3: nodes must be between 1 and 100, got 0
type Error struct {
	File string // the file as given to Load or Parse; empty from Validate
	Line int    // 1-based line of the key; 0 when not known
	Key  string // dotted key such as "baselines.warm_up", or "at[2]"; empty when the file as a whole is at fault
	Msg  string // what is wrong and what is allowed

	value string // the offending string of an `at` entry, to find its line
	err   error  // the cause, for errors.Is (such as fs.ErrNotExist)
}

func (e *Error) Error() string {
	switch {
	case e.File == "":
		return e.Msg
	case e.Line > 0:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	default:
		return e.File + ": " + e.Msg
	}
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.err }

// Load reads the profile file at path; see Parse.
func Load(path string) (Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := "cannot read the profile: " + underlying(err)
		if errors.Is(err, fs.ErrNotExist) {
			msg = "no such profile file"
		}
		return Profile{}, &Error{File: path, Msg: msg, err: err}
	}
	return Parse(path, data)
}

// underlying is err's message without the path that os already put in it.
func underlying(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse reads a profile from data, the contents of the file name; name
// appears in errors, and the profile's name defaults to its base name
// without ".toml". Keys the file leaves out take Default's values. A
// malformed file, an unknown key, a value of the wrong type or out of range
// is an *Error naming the file, the line and the key.
func Parse(name string, data []byte) (Profile, error) {
	p := Default()
	p.Name = strings.TrimSuffix(filepath.Base(name), ".toml")

	// Parse the syntax first, so that every error from decoding below is
	// about a value, not the syntax.
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return Profile{}, syntaxError(name, err)
	}
	md, err := toml.Decode(string(data), &p)
	if err != nil {
		return Profile{}, valueError(name, data, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return Profile{}, unknownKey(name, data, und[0])
	}
	// An empty list decodes as an empty slice; keep nil so that a saved and
	// reloaded profile equals the original.
	if len(p.At) == 0 {
		p.At = nil
	}
	if len(p.Nemesis) == 0 {
		p.Nemesis = nil
	}
	if err := p.Validate(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File = name
			e.Line = keyLine(data, e.Key, e.value)
		}
		return Profile{}, err
	}
	return p, nil
}

func syntaxError(name string, err error) *Error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return &Error{File: name, Msg: "malformed TOML: " + err.Error(), err: err}
	}
	msg := "malformed TOML: " + pe.Message
	if pe.LastKey != "" {
		msg += fmt.Sprintf(" (at key %q)", pe.LastKey)
	}
	return &Error{File: name, Line: pe.Position.Line, Key: pe.LastKey, Msg: msg, err: err}
}

// typeErr matches the decoder's message for a value of the wrong type.
var typeErr = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "((?:[^"\\]|\\.)*)"\): incompatible types: TOML value has type (\S+); destination has type`)

// valueError turns an error from decoding a syntactically good file into
// an *Error: a value of the wrong type, or a string that is not a duration
// or a size.
func valueError(name string, data []byte, err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) && pe.LastKey != "" {
		// From a Duration's or Size's UnmarshalText.
		line := pe.Position.Line
		if line == 0 {
			line = keyLine(data, pe.LastKey, "")
		}
		return &Error{File: name, Line: line, Key: pe.LastKey, Msg: pe.LastKey + " = " + pe.Message, err: err}
	}
	if m := typeErr.FindStringSubmatch(err.Error()); m != nil {
		key := m[2]
		line, _ := strconv.Atoi(m[1])
		if line == 0 {
			line = keyLine(data, key, "")
		}
		msg := fmt.Sprintf("%s must be %s, not %s", key, schema[key], tomlType(m[3]))
		if schema[key] == "" {
			msg = fmt.Sprintf("%s has the wrong type (%s)", key, tomlType(m[3]))
		}
		return &Error{File: name, Line: line, Key: key, Msg: msg, err: err}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: "), err: err}
}

// tomlType names, with an article, the TOML type of a Go value the decoder
// reports.
func tomlType(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "int64":
		return "an integer"
	case goType == "float64":
		return "a float"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["):
		return "a table"
	case strings.HasPrefix(goType, "time."), strings.HasPrefix(goType, "toml."):
		return "a date or time"
	}
	return goType
}

func unknownKey(name string, data []byte, key toml.Key) *Error {
	k := key.String()
	table := strings.Join(key[:len(key)-1], ".")
	known := knownKeys(table)
	msg := fmt.Sprintf("unknown key %q", k)
	if s := closest(key[len(key)-1], known); s != "" {
		if table != "" {
			s = table + "." + s
		}
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	switch {
	case known == nil:
		msg += fmt.Sprintf("; %s is not a table", table)
	case table == "":
		msg += "; known keys: " + strings.Join(known, ", ")
	default:
		msg += fmt.Sprintf("; known keys in [%s]: %s", table, strings.Join(known, ", "))
	}
	return &Error{File: name, Line: keyLine(data, k, ""), Key: k, Msg: msg}
}

// knownKeys lists the keys of a table ("" for the top level) in the order
// of Profile's fields, or nil when table is not one.
func knownKeys(table string) []string {
	t := reflect.TypeFor[Profile]()
	for part := range strings.SplitSeq(table, ".") {
		if part == "" {
			continue
		}
		f, ok := fieldByTag(t, part)
		if !ok || f.Type.Kind() != reflect.Struct {
			return nil
		}
		t = f.Type
	}
	var keys []string
	for f := range t.Fields() {
		keys = append(keys, tagName(f))
	}
	return keys
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if tagName(f) == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return name
}

// schema says what each key takes, for wrong-type errors.
var schema = map[string]string{
	"name":                                 "a string",
	"description":                          "a string",
	"suites":                               `an array of suite names, such as ["consensus"]`,
	"nodes":                                "an integer (" + knob.Nodes.Span() + ")",
	"shards":                               "an integer (" + knob.Shards.Span() + ")",
	"clients":                              "an integer (" + knob.Clients.Span() + ")",
	"duration":                             `a duration string such as "30s" (` + knob.Duration.Span() + ")",
	"data_size":                            `a size string such as "1KiB" or "1MB" (` + knob.DataSize.Span() + ")",
	"rate":                                 "a number of ops/s (" + knob.Rate.Span() + ")",
	"net_delay":                            `a duration string such as "20ms" (` + knob.NetDelay.Span() + ")",
	"storage":                              `"memory" or "disk"`,
	"cluster":                              `"embedded", "processes" or "join=HOST:PORT,..."`,
	"node_cpus":                            "a number of CPUs (" + knob.NodeCPUs.Span() + ")",
	"transactions":                         "an integer (" + knob.Transactions.Span() + ")",
	"queries":                              "an integer (" + knob.Queries.Span() + ")",
	"tick":                                 `a duration string such as "250ms" (` + knob.Tick.Span() + ")",
	"window":                               "an integer number of ticks (" + knob.Window.Span() + ")",
	"memory_budget":                        `a size string such as "2GiB" (` + knob.MemoryBudget.Span() + ")",
	"seed":                                 "an integer",
	"op_timeout":                           `a duration string such as "5s" (` + knob.OpTimeout.Span() + ")",
	"nemesis":                              `an array of faults, any of "kill", "crash", "partition", "delay"`,
	"at":                                   `an array of "TIME:ACTION" strings, such as ["10s:clients=50", "20s:kill-leader"]`,
	"keys":                                 "a table",
	"keys.distribution":                    `"uniform", "zipfian" or "hotspot"`,
	"keys.zipf_s":                          "a number (above 1, at most 5)",
	"keys.hot_fraction":                    "a number (above 0, at most 1)",
	"keys.hot_ops_fraction":                "a number (above 0, at most 1)",
	"baselines":                            "a table",
	"baselines.max_avg_latency":            `a duration string such as "100ms" (0s..1m, 0 = off)`,
	"baselines.max_p99_latency":            `a duration string such as "250ms" (0s..1m, 0 = off)`,
	"baselines.min_throughput":             "a number of ops/s (0..10000000, 0 = off)",
	"baselines.min_scalability_efficiency": "a number (0..1, 1 = linear, 0 = off)",
	"baselines.warm_up":                    `a duration string such as "2s" (0s..1h)`,
}

// closest is the known key nearest to k by edit distance, if it is near
// enough to be a likely typo.
func closest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// keyLine finds the 1-based line where key is set in data, for errors the
// decoder gives no line for. key is dotted ("baselines.warm_up") and may end
// in an index ("at[2]"), in which case value, the entry's text, finds the
// entry's own line in a multi-line array. It tries the key's parents when
// the key itself is not written out (as in an inline table), and returns 0
// when nothing matches.
func keyLine(data []byte, key, value string) int {
	base, _, indexed := strings.Cut(key, "[")
	line := 0
	for k := base; k != ""; {
		if line = findKey(data, k); line > 0 {
			break
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	if line == 0 || !indexed || value == "" {
		return line
	}
	lines := bytes.Split(data, []byte("\n"))
	for i := line - 1; i < len(lines); i++ {
		if bytes.Contains(lines[i], []byte(strconv.Quote(value))) || bytes.Contains(lines[i], []byte("'"+value+"'")) {
			return i + 1
		}
	}
	return line
}

// findKey scans data line by line, following [table] headers, for the line
// that sets the dotted key (or a key below it, or opens its table).
func findKey(data []byte, key string) int {
	table := ""
	inString := "" // the closing delimiter while inside a multi-line string
	matches := func(full string) bool { return full == key || strings.HasPrefix(full, key+".") }
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if inString != "" {
			if strings.Contains(line, inString) {
				inString = ""
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			end := strings.LastIndexByte(line, ']')
			if end < 0 {
				continue
			}
			table = normalizeKey(strings.Trim(line[:end+1], "[]"))
			if matches(table) {
				return i + 1
			}
			continue
		}
		eq := equalsOutsideQuotes(line)
		if eq < 0 {
			continue
		}
		full := normalizeKey(line[:eq])
		if table != "" {
			full = table + "." + full
		}
		if matches(full) {
			return i + 1
		}
		for _, delim := range []string{`"""`, `'''`} {
			if strings.Count(line[eq+1:], delim) == 1 {
				inString = delim
			}
		}
	}
	return 0
}

// normalizeKey writes a TOML key as the decoder's Key.String does for bare
// keys: dotted parts trimmed of space and quotes.
func normalizeKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// equalsOutsideQuotes is the index of the first '=' not inside a quoted
// key, or -1; a line that starts with neither a key nor a quote has none.
func equalsOutsideQuotes(line string) int {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		case c == ',' || c == ']' || c == '#':
			return -1 // an array element or a comment, not a key
		}
	}
	return -1
}
