package ports

import (
	"log/slog"
	"os"
)

// EnvLogLevel names the lowest level logged.
const EnvLogLevel = "LOG_LEVEL"

// Logger is the service's logger: JSON lines on stderr, as Lambda's JSON log format expects,
// at the level LOG_LEVEL names (DEBUG, INFO, WARN, ERROR; INFO when unset or unknown).
func Logger(env func(string) string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(env(EnvLogLevel))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
