// Command echo is the smallest Lambda handler: it answers every event with the event itself,
// so the lambdatest helper can be tested without depending on the project's functions.
package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, event json.RawMessage) (json.RawMessage, error) {
		var e struct {
			Fail bool `json:"fail"`
		}
		if json.Unmarshal(event, &e) == nil && e.Fail {
			return nil, errors.New("asked to fail")
		}
		return event, nil
	})
}
