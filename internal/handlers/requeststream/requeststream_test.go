package requeststream_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/handlers/requeststream"
)

func record(seq, pk, sk string) events.DynamoDBEventRecord {
	return events.DynamoDBEventRecord{EventID: "e" + seq, Change: events.DynamoDBStreamRecord{
		SequenceNumber: seq,
		Keys:           map[string]events.DynamoDBAttributeValue{"pk": events.NewStringAttribute(pk), "sk": events.NewStringAttribute(sk)},
	}}
}

func TestBatch(t *testing.T) {
	var ran []string
	h := requeststream.New(func(_ context.Context, tenantID, id string) error {
		ran = append(ran, tenantID+"/"+id)
		if id == "req_b" {
			return errors.New("objects store down")
		}
		return nil
	}, slog.New(slog.DiscardHandler))
	resp, err := h(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		record("1", "T#acme#R#req_a", "REQUEST"),
		record("2", "T#acme#S#u-1", "PROFILE"),
		record("3", "T#acme#R#req_b", "REQUEST"),
		record("4", "T#beta#R#req_c", "REQUEST"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme/req_a", "acme/req_b", "beta/req_c"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	if got := resp.BatchItemFailures; len(got) != 1 || got[0].ItemIdentifier != "3" {
		t.Fatalf("batch item failures %+v, want the record of req_b", got)
	}
}
