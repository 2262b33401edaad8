package tui

// shared is what every component is handed: the looks, the keys and the
// terminal's size. It is a pointer, so every copy of the model sees one
// terminal and one key map (set for the current screen). Each component
// also gets its own share of the screen through SetSize; the terminal
// size is here for what centres or overlays.
type shared struct {
	styles        Styles
	keys          KeyMap
	width, height int
}

// setSize records the terminal's size.
func (s *shared) setSize(width, height int) { s.width, s.height = width, height }
