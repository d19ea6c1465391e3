// Command echo is the smallest Lambda handler, to test the lambdatest helper without the
// project's functions: it answers an event with the event itself, {"fail":true} with an
// error, and {"env":"NAME"} with that environment variable's value.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, event json.RawMessage) (any, error) {
		var e struct {
			Fail bool   `json:"fail"`
			Env  string `json:"env"`
		}
		if err := json.Unmarshal(event, &e); err != nil {
			return nil, err
		}
		switch {
		case e.Fail:
			return nil, errors.New("asked to fail")
		case e.Env != "":
			return map[string]string{"value": os.Getenv(e.Env)}, nil
		}
		return event, nil
	})
}
