// Package requeststream is the table-stream side of a fulfilment function: it turns each
// record of a DynamoDB stream batch about a request into one run of the function's work, and
// reports the records whose run failed so that Lambda (or gdprd) delivers them again.
package requeststream

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/dsr"
)

// Handler is what Lambda invokes with a batch of stream records (lambdamain.StreamHandler).
type Handler = func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// New returns the handler that calls run for every request a record names (its table keys),
// in order. A failed run puts its record among the batch item failures; the records after it
// still run, since every run is idempotent and Lambda resumes from the first failure. Records
// about anything else, which the trigger's filter should have kept away, are skipped.
func New(run func(ctx context.Context, tenantID, id string) error, log *slog.Logger) Handler {
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		var resp events.DynamoDBEventResponse
		for _, rec := range ev.Records {
			tenantID, id, ok := dsr.ParseKey(rec.Change.Keys["pk"].String(), rec.Change.Keys["sk"].String())
			if !ok {
				log.Warn("stream record is not a request; skipped", "event_id", rec.EventID)
				continue
			}
			if err := run(ctx, tenantID, id); err != nil {
				log.Error("request not fulfilled; record to be retried", "tenant", tenantID, "request_id", id,
					"sequence", rec.Change.SequenceNumber, "error", err.Error())
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
			}
		}
		return resp, nil
	}
}
