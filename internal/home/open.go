package home

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/s3"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/secretsmanager"
	"github.com/example/gdpr/internal/ses"
)

// EnvCreateTable, set to 1, makes Open provision an empty emulator first (see Provision).
const EnvCreateTable = "GDPR_CREATE_TABLE"

// Open builds the ports of a long-running local process (gdprd, gdprctl): the AWS adapters
// when env sets TABLE_NAME, the embedded ones under dataDir otherwise. Against AWS or an
// emulator, the master secret is read from the secret GDPR_SECRET_ARN names, or, without it,
// is the local one in dataDir, so that one data folder's keys keep working whichever engine
// holds the data. Either way the ports are the local server's (Ports.Local), and links point
// at baseURL unless PUBLIC_BASE_URL says otherwise.
func Open(ctx context.Context, env func(string) string, dataDir, baseURL string, clk clock.Clock, log *slog.Logger) (*ports.Ports, error) {
	p, err := open(ctx, env, dataDir, baseURL, clk, log)
	if err != nil {
		return nil, err
	}
	p.Local = true
	if p.PublicURL == "" {
		p.PublicURL = baseURL
	}
	return p, nil
}

func open(ctx context.Context, env func(string) string, dataDir, baseURL string, clk clock.Clock, log *slog.Logger) (*ports.Ports, error) {
	if env(awsports.EnvTable) == "" {
		return local(dataDir, clk, baseURL, log, env(awsports.EnvSender))
	}
	if env(EnvCreateTable) == "1" {
		if err := Provision(ctx, env); err != nil {
			return nil, err
		}
	}
	adapters := []awsports.Adapter{dynamo.FromEnv(), dynamo.FeedFromEnv(), s3.FromEnv(), ses.FromEnv()}
	if env(awsports.EnvSecretARN) != "" {
		adapters = append(adapters, secretsmanager.FromEnv())
	} else {
		adapters = append(adapters, localSecret(dataDir))
	}
	h, err := awsports.Open(env, adapters...)
	if err != nil {
		return nil, err
	}
	return h.Ports(ctx, clk, log)
}

// localSecret is the master secret of the data folder dir as an adapter.
func localSecret(dir string) awsports.Adapter {
	return awsports.Adapter{Build: func(_ context.Context, _ awsports.Env, p *ports.Ports) error {
		s, err := LocalSecret(dir)
		if err != nil {
			return err
		}
		if p.Secrets, err = secrets.New([]byte(s)); err != nil {
			return fmt.Errorf("home: %s: %w", SecretFile, err)
		}
		return nil
	}}
}

// Provision creates in an empty emulator what the SAM template creates in AWS: the table
// (ports.TableDef), the bucket, and the verified sender identity. What exists is left as it
// is. It is for emulators only: in AWS, sam deploy makes these.
func Provision(ctx context.Context, env func(string) string) error {
	table, bucket, sender := env(awsports.EnvTable), env(awsports.EnvBucket), env(awsports.EnvSender)
	if table == "" || bucket == "" || sender == "" {
		return fmt.Errorf("home: provisioning needs %s, %s and %s", awsports.EnvTable, awsports.EnvBucket, awsports.EnvSender)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("home: AWS configuration: %w", err)
	}
	if err := dynamo.CreateTable(ctx, dynamodb.NewFromConfig(cfg), table, ports.TableDef()); err != nil {
		return fmt.Errorf("home: %w", err)
	}
	client := s3.Client(cfg, env)
	if _, err := client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &bucket}); err != nil {
		in := &awss3.CreateBucketInput{Bucket: &bucket}
		// us-east-1 refuses a location constraint naming itself.
		if cfg.Region != "" && cfg.Region != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(cfg.Region)}
		}
		var owned *s3types.BucketAlreadyOwnedByYou
		if _, err := client.CreateBucket(ctx, in); err != nil && !errors.As(err, &owned) {
			return fmt.Errorf("home: create bucket %s: %w", bucket, err)
		}
	}
	if _, err := awsses.NewFromConfig(cfg).VerifyEmailIdentity(ctx, &awsses.VerifyEmailIdentityInput{EmailAddress: &sender}); err != nil {
		return fmt.Errorf("home: verify sender identity: %w", err)
	}
	return nil
}
