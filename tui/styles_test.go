package tui

import (
	"io"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// env is a fake process environment for termenv.
type env map[string]string

func (e env) Getenv(k string) string { return e[k] }
func (e env) Environ() []string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// renderer is a renderer for a 256-colour terminal with extra environment.
func renderer(extra env) *lipgloss.Renderer {
	e := env{"TERM": "xterm-256color"}
	for k, v := range extra {
		e[k] = v
	}
	return lipgloss.NewRenderer(io.Discard, termenv.WithEnvironment(e), termenv.WithTTY(true))
}

// TestNoColor checks that NO_COLOR reaches every part of the screen:
// lipgloss's styles through termenv's EnvColorProfile, the chart through
// Styles.Color. The coloured run is the control that shows the check can
// fail.
func TestNoColor(t *testing.T) {
	tests := []struct {
		name  string
		env   env
		color bool
	}{
		{"colour terminal", nil, true},
		{"NO_COLOR", env{"NO_COLOR": "1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStyles(renderer(tt.env))
			if st.Color != tt.color {
				t.Errorf("Styles.Color = %v, want %v", st.Color, tt.color)
			}
			for _, sz := range sizes {
				m := dashboard(t, fixture(), sz.w, sz.h)
				m.sh.styles = st
				m.help.Styles = st.Help
				m = press(t, m, "tab") // txn.2pc: its chart draws the baseline too
				views := map[string]string{"dashboard": m.View(), "help": press(t, m, "?").View()}
				for name, v := range views {
					if got := strings.Contains(v, "\x1b["); got != tt.color {
						t.Errorf("%dx%d %s: escape codes %v, want %v", sz.w, sz.h, name, got, tt.color)
					}
				}
			}
		})
	}
}
