package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lmittmann/tint"
	"github.com/mattn/go-isatty"
)

// NewLogger builds the process logger writing to w.
//
// format is "auto" (tint when w is a terminal, JSON otherwise), "text" (tint,
// coloured only when w is a terminal) or "json". level is debug, info, warn or
// error. Both are matched case-insensitively; an empty value means the default
// ("info", "auto"), so a caller without configuration can pass "" for either.
// Any other value is an error naming it.
//
// Colour is also turned off when the NO_COLOR environment variable is set to a
// non-empty value (https://no-color.org), which is what terminal users expect.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "debug":
		lvl = slog.LevelDebug
	case "info", "":
		lvl = slog.LevelInfo
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		return nil, fmt.Errorf("unknown log level %q: want debug, info, warn or error", level)
	}

	terminal := IsTerminal(w)
	var useTint bool
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "auto", "":
		useTint = terminal
	case "text":
		useTint = true
	case "json":
		useTint = false
	default:
		return nil, fmt.Errorf("unknown log format %q: want auto, text or json", format)
	}

	if !useTint {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})), nil
	}
	// tint writes ANSI colour codes unless told not to, whatever w is; a log
	// file or a pipe full of escape codes is unreadable.
	noColor := !terminal || os.Getenv("NO_COLOR") != ""
	return slog.New(tint.NewHandler(w, &tint.Options{Level: lvl, NoColor: noColor})), nil
}

// IsTerminal reports whether w is an *os.File that is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	fd := f.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}
