package lambdatest_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/lambdatest"
)

const echo = "./internal/lambdatest/testdata/echo"

func invoke(tb testing.TB, f *lambdatest.Function, event string) lambdatest.Invocation {
	tb.Helper()
	inv, err := f.Invoke(context.Background(), []byte(event))
	if err != nil {
		tb.Fatal(err)
	}
	return inv
}

func TestEmulator(t *testing.T) {
	t.Setenv("GDPR_HOST_ONLY", "leaked")
	f := lambdatest.RunPackage(t, echo, []string{"GREETING=hello"})

	t.Run("ColdThenWarm", func(t *testing.T) {
		cold := invoke(t, f, `{"n":1}`)
		if got, want := string(cold.Payload), `{"n":1}`; got != want {
			t.Fatalf("payload %s, want %s", got, want)
		}
		if cold.Err != nil {
			t.Fatalf("handler error %v", cold.Err)
		}
		if cold.Init <= 0 || cold.Duration <= 0 || cold.Elapsed <= 0 {
			t.Fatalf("cold invocation without durations: %+v", cold)
		}
		warm := invoke(t, f, `{"n":2}`)
		if warm.Init != 0 || warm.Duration <= 0 {
			t.Fatalf("warm invocation: init %v, duration %v", warm.Init, warm.Duration)
		}
	})

	t.Run("HandlerError", func(t *testing.T) {
		inv := invoke(t, f, `{"fail":true}`)
		if inv.Err == nil {
			t.Fatalf("no handler error in %s", inv.Payload)
		}
		if got, want := inv.Err.Message, "asked to fail"; got != want {
			t.Fatalf("message %q, want %q", got, want)
		}
	})

	t.Run("Env", func(t *testing.T) {
		for name, want := range map[string]string{
			"GREETING":       "hello",
			"AWS_REGION":     "us-east-1",
			"GDPR_HOST_ONLY": "", // the host's environment stays out
		} {
			var got struct{ Value string }
			if err := json.Unmarshal(invoke(t, f, `{"env":"`+name+`"}`).Payload, &got); err != nil {
				t.Fatal(err)
			}
			if got.Value != want {
				t.Errorf("%s=%q, want %q", name, got.Value, want)
			}
		}
	})
}

func TestTwoAtOnce(t *testing.T) {
	// Each emulator gets its own ports, runtime API included, so tests need no lock.
	a := lambdatest.RunPackage(t, echo, nil)
	b := lambdatest.RunPackage(t, echo, nil)
	if got := string(invoke(t, a, `{"who":"a"}`).Payload); got != `{"who":"a"}` {
		t.Fatalf("a answered %s", got)
	}
	if got := string(invoke(t, b, `{"who":"b"}`).Payload); got != `{"who":"b"}` {
		t.Fatalf("b answered %s", got)
	}
}

func TestMetaHealth(t *testing.T) {
	f := lambdatest.Run(t, "MetaFunction")
	inv := invoke(t, f, string(lambdatest.Event(t, "meta-health")))
	if inv.Err != nil {
		t.Fatalf("handler error: %v", inv.Err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(inv.Payload, &resp); err != nil {
		t.Fatalf("answer %s: %v", inv.Payload, err)
	}
	if got, want := resp.StatusCode, 200; got != want {
		t.Fatalf("status %d, want %d: %s", got, want, resp.Body)
	}
	var body struct{ Status string }
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	if got, want := body.Status, "ok"; got != want {
		t.Fatalf("status %q, want %q", got, want)
	}
	t.Logf("cold start %v, first invocation %v", inv.Init, inv.Elapsed)
}
