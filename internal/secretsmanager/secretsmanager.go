// Package secretsmanager reads the service's master secret from AWS Secrets Manager. A function
// that uses the secret is given its ARN (GDPR_SECRET_ARN), never its value, and reads it once
// per instance: the value is in no environment variable the console shows.
package secretsmanager

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/example/gdpr/internal/awsconfig"
	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/secrets"
)

// Client is the part of the Secrets Manager API the adapter uses; *secretsmanager.Client
// implements it.
type Client interface {
	GetSecretValue(ctx context.Context, in *awssm.GetSecretValueInput, opts ...func(*awssm.Options)) (*awssm.GetSecretValueOutput, error)
}

// Read returns the master secret stored as the string value of the secret id (an ARN or a
// name). Errors name the secret's id, never its value.
func Read(ctx context.Context, c Client, id string) (secrets.Master, error) {
	out, err := c.GetSecretValue(ctx, &awssm.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return secrets.Master{}, fmt.Errorf("secretsmanager: read %s: %w", id, err)
	}
	if out.SecretString == nil {
		return secrets.Master{}, fmt.Errorf("secretsmanager: %s: %w", id, errNoString)
	}
	m, err := secrets.New([]byte(*out.SecretString))
	if err != nil {
		return secrets.Master{}, fmt.Errorf("secretsmanager: %s: %w", id, err)
	}
	return m, nil
}

var errNoString = errors.New("the secret has no string value")

// FromEnv is the master secret read from the secret GDPR_SECRET_ARN, for a function's main to
// declare. Reading it is a call to AWS: lambdamain makes it on the function's first
// invocation, and the ports built then serve the instance for its life.
func FromEnv() awsports.Adapter {
	return awsports.Adapter{
		Settings: []string{awsports.EnvSecretARN},
		Build: func(ctx context.Context, e awsports.Env, p *ports.Ports) error {
			cfg, err := awsconfig.Load()
			if err != nil {
				return err
			}
			m, err := Read(ctx, awssm.NewFromConfig(cfg), e.Get(awsports.EnvSecretARN))
			if err != nil {
				return err
			}
			p.Secrets = m
			return nil
		},
	}
}
