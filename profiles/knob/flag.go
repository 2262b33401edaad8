package knob

import (
	"flag"
	"time"
)

// Value is a command-line flag for a knob, as vegeta's flags are: it
// reads the knob's values with the knob's parser and remembers whether
// the user gave it, so main declares each knob's flag once and a flag
// overrides a profile only when given. Set does not check the limits:
// a run's settings are validated together, so every problem shows at
// once.
type Value[T Number] struct {
	knob  *Knob[T]
	v     T
	set   bool
	apply func(T)
}

// Var defines the flag k.Flag on fs with default def and usage, and
// returns it. apply, which may be nil, receives the value when Apply is
// called on a flag the user gave.
func Var[T Number](fs *flag.FlagSet, k *Knob[T], def T, usage string, apply func(T)) *Value[T] {
	v := &Value[T]{knob: k, v: def, apply: apply}
	fs.Var(v, k.Flag, usage)
	return v
}

// Set reads s as the knob's value; it is flag.Value's.
func (v *Value[T]) Set(s string) error {
	x, err := v.knob.Parse(s)
	if err != nil {
		return err
	}
	v.v, v.set = x, true
	return nil
}

// String writes the value as the knob's Format does.
func (v *Value[T]) String() string {
	if v == nil || v.knob == nil {
		return "" // the zero Value the flag package makes to find a default
	}
	return v.knob.Format(v.v)
}

// Get returns the value, for flag.Getter.
func (v *Value[T]) Get() any { return v.v }

// Value returns the value: the default until the flag is given.
func (v *Value[T]) Value() T { return v.v }

// IsSet reports whether the user gave the flag.
func (v *Value[T]) IsSet() bool { return v.set }

// Apply passes the value to the function given to Var if the user gave
// the flag, and does nothing otherwise.
func (v *Value[T]) Apply() {
	if v.set && v.apply != nil {
		v.apply(v.v)
	}
}

// Type is the word help shows after the flag: int, float or duration.
// A size says string, as it always has on phantom's command line.
func (v *Value[T]) Type() string {
	var zero T
	switch any(zero).(type) {
	case float64:
		return "float"
	case time.Duration:
		return "duration"
	}
	if v.knob != nil && v.knob.size {
		return "string"
	}
	return "int"
}

// IsZero reports whether the value is 0, which help leaves unsaid as a
// default, as the flag package does for its own flags.
func (v *Value[T]) IsZero() bool { return v.v == 0 }
