package mototest_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/gdpr/internal/mototest"
)

// unused is the address of a loopback port nothing listens on.
func unused(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	return addr
}

// reaches tells whether a DynamoDB call with cfg reaches a server that answers.
func reaches(t *testing.T, cfg aws.Config) error {
	t.Helper()
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	_, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{})
	return err
}

// TestStrayEndpoint: a developer's shell that points DynamoDB somewhere else with
// AWS_ENDPOINT_URL_DYNAMODB does not redirect the tests' clients, neither those built from
// Config nor those the code under test loads itself after SetEnv. The unguarded case shows
// that the stray variable does redirect a configuration loaded from the environment with
// AWS_ENDPOINT_URL pointing at moto (a service's own variable wins over it), so the guarded
// cases can fail. (A profile's services section cannot redirect them: AWS_ENDPOINT_URL wins
// over it, and Config reads no profile.)
func TestStrayEndpoint(t *testing.T) {
	srv := mototest.Start(t)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", unused(t))
	t.Run("Unguarded", func(t *testing.T) {
		// What the AWS tests of gdprd did before SetEnv: moto's variables on top of the
		// process environment, for code that loads its own configuration.
		for _, kv := range srv.Env() {
			name, value, _ := strings.Cut(kv, "=")
			t.Setenv(name, value)
		}
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := reaches(t, cfg); err == nil {
			t.Fatal("the stray endpoint did not redirect a configuration loaded from the environment: this test shows nothing")
		}
	})
	t.Run("Config", func(t *testing.T) {
		if err := reaches(t, srv.Config(t)); err != nil {
			t.Fatalf("Config was redirected: %v", err)
		}
	})
	t.Run("SetEnv", func(t *testing.T) {
		srv.SetEnv(t)
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := reaches(t, cfg); err != nil {
			t.Fatalf("a configuration loaded after SetEnv was redirected: %v", err)
		}
	})
}
