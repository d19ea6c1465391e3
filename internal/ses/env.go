package ses

import (
	"context"

	awsses "github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/example/gdpr/internal/awsconfig"
	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/ports"
)

// FromEnv is the mail port sending from SENDER_EMAIL, for a function's main to declare.
func FromEnv() awsports.Adapter {
	return awsports.Adapter{
		Settings: []string{awsports.EnvSender},
		Build: func(_ context.Context, e awsports.Env, p *ports.Ports) error {
			cfg, err := awsconfig.Load()
			if err != nil {
				return err
			}
			p.Mail = New(awsses.NewFromConfig(cfg), e.Get(awsports.EnvSender), "")
			return nil
		},
	}
}
