package gdprd_test

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/home"
	"github.com/example/gdpr/internal/mototest"
)

// The rights flows through gdprd: a request verified over HTTP reaches RightsFunction by the
// change feed (SQLite's, or DynamoDB Streams), which fulfils it.

// Personal data of the erased subject: none of it may be found in the table afterwards.
const (
	erEmail = "erase.me@example.org"
	erFirst = "Philippa"
	erLast  = "Zwiebelkuchen"
	erPhone = "+44 20 7946 0777"
	erIP    = "203.0.113.201"
	erUA    = "Mozilla/5.0 (ErasureFlow) Gecko/20100101"
)

// erasureFlow erases a subject with a profile, devices and consents through the public
// routes, then checks what the API answers and, through scan (every item of the table, as
// JSON text), that nothing of the subject is left.
func erasureFlow(t *testing.T, c client, scan func(t *testing.T) []string) {
	sub := "u-erase"
	step(t, "Subject", func(t *testing.T) {
		d := strings.NewReplacer("203.0.113.9", erIP, "Mozilla/5.0 Firefox/146.0", erUA).Replace(decision(sub, erEmail, true, true, true))
		c.site(t, "POST", "/v1/consents", d).must(t, http.StatusCreated, nil)
		c.site(t, "PUT", "/v1/subjects/"+sub+"/profile", `{"first_name":"`+erFirst+`","last_name":"`+erLast+`","email":"`+erEmail+`","phone":"`+erPhone+`"}`).
			must(t, http.StatusOK, nil)
		for range 3 {
			c.site(t, "POST", "/v1/subjects/"+sub+"/devices", `{"ip":"`+erIP+`","user_agent":"`+erUA+`","location":"London"}`).
				must(t, http.StatusAccepted, nil)
		}
	})
	var id string
	step(t, "Erasure", func(t *testing.T) {
		rc := c.submit(t, "erasure", erEmail)
		id = rc.ID
		c.verify(t, id, c.verificationCode(t, erEmail, id)).must(t, http.StatusOK, nil)
		waitFor(t, "the erasure completed", func() bool { return c.record(t, id).Status == "completed" })
		var steps []string
		for _, e := range c.record(t, id).Timeline {
			steps = append(steps, e.Event)
		}
		want := "received verification_sent verified processing gate notices profile devices exports consent requests sites receipt anonymized contact completed"
		if got := strings.Join(steps, " "); got != want {
			t.Fatalf("timeline %s\nwant     %s", got, want)
		}
		c.mailWith(t, erEmail, id, "We erased:", "your profile")
	})
	step(t, "Afterwards", func(t *testing.T) {
		c.site(t, "GET", "/v1/consents/"+sub, "").code(t, http.StatusNotFound, "subject_not_found")
		c.site(t, "GET", "/v1/subjects/"+sub+"/profile", "").code(t, http.StatusNotFound, "subject_not_found")
		for _, item := range scan(t) {
			for _, pd := range []string{erEmail, erFirst, erLast, erPhone, erIP, erUA} {
				if strings.Contains(item, pd) {
					t.Fatalf("an item still holds personal data of the erased subject:\n%s", item)
				}
			}
		}
	})
	step(t, "NewAccessFindsNoData", func(t *testing.T) {
		rc := c.submit(t, "access", erEmail)
		c.verify(t, rc.ID, c.verificationCode(t, erEmail, rc.ID)).must(t, http.StatusOK, nil)
		waitFor(t, "the access request completed", func() bool { return c.record(t, rc.ID).Status == "completed" })
		c.mailWith(t, erEmail, rc.ID, "no personal data")
		// The site route names the subject id: the rights function's types answer no_data.
		ob := c.site(t, "POST", "/v1/requests", `{"type":"objection","subject_id":"`+sub+`","email":"`+erEmail+`"}`)
		var orc requestReceipt
		ob.must(t, http.StatusAccepted, &orc)
		c.verify(t, orc.ID, c.verificationCode(t, erEmail, orc.ID)).must(t, http.StatusOK, nil)
		waitFor(t, "the objection completed", func() bool { return c.record(t, orc.ID).Status == "completed" })
		c.mailWith(t, erEmail, orc.ID, "no personal data")
	})
}

func TestFlowErasure(t *testing.T) {
	s := start(t, gdprd.Config{})
	c := localClient(t, s)
	erasureFlow(t, c, sqliteItems(s))
}

// sqliteItems reads every row of the local server's items table, as text, beside the running
// server.
func sqliteItems(s *testServer) func(t *testing.T) []string {
	return func(t *testing.T) []string {
		t.Helper()
		db, err := sql.Open("sqlite", "file:"+filepath.Join(s.dir, home.DatabaseFile)+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT pk || ' ' || sk || ' ' || data FROM items`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if len(out) == 0 {
			t.Fatal("no rows")
		}
		return out
	}
}

func TestAWSFlowErasure(t *testing.T) {
	vars := motoEnv(t, "gdpr-erasure")
	mailer := mototest.Start(t)
	t.Setenv("AWS_ENDPOINT_URL_SESV2", mailer.Endpoint)
	vars["AWS_ENDPOINT_URL_SESV2"] = mailer.Endpoint
	dir := t.TempDir()
	s := start(t, gdprd.Config{DataDir: dir, Env: env(vars)})
	c := client{url: s.URL(), keys: credentials(t, dir), mail: sesMail(mailer)}
	erasureFlow(t, c, dynamoItems("gdpr-erasure"))
}

// dynamoItems reads every item of a table on moto_server, as text (attrText); a Scan is fine
// in a test.
func dynamoItems(table string) func(t *testing.T) []string {
	return func(t *testing.T) []string {
		t.Helper()
		db := dynamodb.NewFromConfig(awsConfig(t))
		var out []string
		p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table)})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				out = append(out, attrText(it))
			}
		}
		return out
	}
}

// attrText writes every string of an item, keys and attribute names included, one after the
// other.
func attrText(it map[string]types.AttributeValue) string {
	var b strings.Builder
	var walk func(v types.AttributeValue)
	walk = func(v types.AttributeValue) {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			b.WriteString(v.Value + " ")
		case *types.AttributeValueMemberM:
			for k, x := range v.Value {
				b.WriteString(k + " ")
				walk(x)
			}
		case *types.AttributeValueMemberL:
			for _, x := range v.Value {
				walk(x)
			}
		case *types.AttributeValueMemberSS:
			b.WriteString(strings.Join(v.Value, " "))
		}
	}
	for k, v := range it {
		b.WriteString(k + " ")
		walk(v)
	}
	return b.String()
}

// awsConfig is the SDK's configuration from the environment motoEnv set.
func awsConfig(t *testing.T) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
