package ports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/s3"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/ses"
)

// Settings of the AWS adapters, read from the environment template.yaml gives every function.
const (
	EnvTable    = "TABLE_NAME"
	EnvBucket   = "BUCKET_NAME"
	EnvKMSKey   = "KMS_KEY_ID" // optional: the bucket's default key otherwise
	EnvSender   = "SENDER_EMAIL"
	EnvSecret   = "GDPR_SECRET"
	EnvLogLevel = "LOG_LEVEL"
	// EnvPublicURL is optional: the functions that email links require it (ExportFunction).
	EnvPublicURL = "PUBLIC_BASE_URL"
)

// awsSettings are the required settings, read at once so that one start names every
// missing one.
type awsSettings struct {
	table, bucket, kmsKey, sender, secret string
}

func readAWSSettings(env func(string) string) (awsSettings, error) {
	var missing []string
	get := func(name string) string {
		v := env(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	s := awsSettings{
		table:  get(EnvTable),
		bucket: get(EnvBucket),
		sender: get(EnvSender),
		secret: get(EnvSecret),
		kmsKey: env(EnvKMSKey),
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("ports: missing setting %s", strings.Join(missing, ", "))
	}
	return s, nil
}

// AWS builds the AWS adapters: DynamoDB (and its stream) for the table, S3 for objects, SES
// for mail. Settings come from env; SDK clients from config.LoadDefaultConfig, so
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> point them at an emulator. It makes no
// call to AWS, and a missing setting is an error that names it.
func AWS(ctx context.Context, env func(string) string, clk clock.Clock, log *slog.Logger) (*Ports, error) {
	s, err := readAWSSettings(env)
	if err != nil {
		return nil, err
	}
	master, err := secrets.New([]byte(s.secret))
	if err != nil {
		return nil, fmt.Errorf("ports: %s: %w", EnvSecret, err)
	}
	def, err := TableDef()
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("ports: AWS configuration: %w", err)
	}
	db := dynamodb.NewFromConfig(cfg)
	return &Ports{
		Table:     dynamo.New(db, s.table, def),
		Feed:      dynamo.NewFeed(dynamodbstreams.NewFromConfig(cfg), db, s.table),
		Objects:   s3.New(s3Client(cfg, env), s.bucket, s.kmsKey),
		Mail:      ses.New(awsses.NewFromConfig(cfg), s.sender, ""),
		Clock:     clk,
		Secrets:   master,
		Log:       log,
		PublicURL: env(EnvPublicURL),
	}, nil
}

// s3Client uses path-style addresses against an emulator, where bucket host names do not
// resolve.
func s3Client(cfg aws.Config, env func(string) string) *awss3.Client {
	pathStyle := env("AWS_ENDPOINT_URL") != "" || env("AWS_ENDPOINT_URL_S3") != ""
	return awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = pathStyle })
}

// Provision creates in an empty emulator what the SAM template creates in AWS: the table
// (from the template's definition), the bucket, and the verified sender identity. What exists
// is left as it is. It is for emulators only: in AWS, sam deploy makes these.
func Provision(ctx context.Context, env func(string) string) error {
	s, err := readAWSSettings(env)
	if err != nil {
		return err
	}
	def, err := TableDef()
	if err != nil {
		return err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("ports: AWS configuration: %w", err)
	}
	if err := dynamo.CreateTable(ctx, dynamodb.NewFromConfig(cfg), s.table, def); err != nil {
		return fmt.Errorf("ports: %w", err)
	}
	client := s3Client(cfg, env)
	if _, err := client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		in := &awss3.CreateBucketInput{Bucket: &s.bucket}
		// us-east-1 refuses a location constraint naming itself.
		if cfg.Region != "" && cfg.Region != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(cfg.Region)}
		}
		var owned *s3types.BucketAlreadyOwnedByYou
		if _, err := client.CreateBucket(ctx, in); err != nil && !errors.As(err, &owned) {
			return fmt.Errorf("ports: create bucket %s: %w", s.bucket, err)
		}
	}
	if _, err := awsses.NewFromConfig(cfg).VerifyEmailIdentity(ctx, &awsses.VerifyEmailIdentityInput{EmailAddress: &s.sender}); err != nil {
		return fmt.Errorf("ports: verify sender identity: %w", err)
	}
	return nil
}
