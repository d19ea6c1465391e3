package ses

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/example/gdpr/internal/awsconfig"
	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/ports"
)

// FromEnv is the mail port sending from SENDER_EMAIL, through the configuration set
// SES_CONFIGURATION_SET when it is set, for a function's main to declare.
func FromEnv() awsports.Adapter {
	return awsports.Adapter{
		Settings: []string{awsports.EnvSender},
		Build: func(_ context.Context, e awsports.Env, p *ports.Ports) error {
			cfg, err := awsconfig.Load()
			if err != nil {
				return err
			}
			p.Mail = New(sesv2.NewFromConfig(cfg), e.Get(awsports.EnvSender), e.Get(awsports.EnvConfigurationSet))
			return nil
		},
	}
}
