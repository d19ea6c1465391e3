package s3

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/example/gdpr/internal/awsconfig"
	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/ports"
)

// FromEnv is the objects port on the bucket BUCKET_NAME, encrypted under KMS_KEY_ID (or the
// bucket's default key), for a function's main to declare.
func FromEnv() awsports.Adapter {
	return awsports.Adapter{
		Settings: []string{awsports.EnvBucket},
		Build: func(_ context.Context, e awsports.Env, p *ports.Ports) error {
			cfg, err := awsconfig.Load()
			if err != nil {
				return err
			}
			p.Objects = New(Client(cfg, e.Get), e.Get(awsports.EnvBucket), e.Get(awsports.EnvKMSKey))
			return nil
		},
	}
}

// Client is an S3 client that uses path-style addresses against an emulator, where bucket host
// names do not resolve.
func Client(cfg aws.Config, env func(string) string) *awss3.Client {
	pathStyle := env("AWS_ENDPOINT_URL") != "" || env("AWS_ENDPOINT_URL_S3") != ""
	return awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = pathStyle })
}
