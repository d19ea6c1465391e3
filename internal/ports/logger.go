package ports

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// EnvLogLevel names the lowest level logged. Lambda sets it from the function's
// LoggingConfig.ApplicationLogLevel (template.yaml: the LogLevel parameter); locally it is an
// ordinary environment variable.
const EnvLogLevel = "AWS_LAMBDA_LOG_LEVEL"

// Logger is the service's logger: JSON lines on stderr in Lambda's own shape (timestamp,
// level, message, and the invocation's requestId, as lambdacontext's handler writes them), at
// the level AWS_LAMBDA_LOG_LEVEL names (DEBUG, INFO, WARN, ERROR; INFO when unset or
// unknown). The same in both homes: gdprd gives every invocation a Lambda context with its
// own request id.
//
// lambdacontext.NewLogHandler writes the same records, but reads its level and format once,
// when the package loads, and writes text unless AWS_LAMBDA_LOG_FORMAT is JSON: gdprd,
// gdprctl and tests could not set either. This is its handler with the settings passed in.
func Logger(env func(string) string) *slog.Logger {
	return newLogger(os.Stderr, env)
}

func newLogger(w io.Writer, env func(string) string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(env(EnvLogLevel))); err != nil {
		level = slog.LevelInfo
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: lambdacontext.ReplaceAttr})
	return slog.New(requestIDHandler{h})
}

// requestIDHandler adds the Lambda request id of the record's context, when it has one.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
