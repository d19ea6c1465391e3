package ports

// NewLogger is Logger writing to w, for the test of its lines.
var NewLogger = newLogger
