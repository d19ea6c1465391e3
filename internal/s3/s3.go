// Package s3 keeps objects in an S3 bucket, encrypted with KMS, and hands them out through
// presigned GET links: the objects port in AWS.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/example/gdpr/internal/objects"
)

var _ objects.Store = (*Store)(nil)

// defaultContentType is what the folder adapter serves for an object stored without a type,
// rather than S3's own binary/octet-stream.
const defaultContentType = "application/octet-stream"

// Store is one bucket.
type Store struct {
	client   *awss3.Client
	presign  *awss3.PresignClient
	upload   *transfermanager.Client
	bucket   string
	kmsKeyID string
}

// New returns a store of bucket. Objects are encrypted with aws:kms under kmsKeyID, or under
// the bucket's default KMS key when kmsKeyID is empty.
func New(client *awss3.Client, bucket, kmsKeyID string) *Store {
	return &Store{
		client:   client,
		presign:  awss3.NewPresignClient(client),
		upload:   transfermanager.New(client),
		bucket:   bucket,
		kmsKeyID: kmsKeyID,
	}
}

// Put uploads through the transfer manager: one PutObject below its threshold, otherwise a
// multipart upload holding a few parts in memory at a time, aborted if r fails so that
// nothing half written becomes visible.
func (s *Store) Put(ctx context.Context, key, contentType string, r io.Reader) error {
	if err := objects.ValidateKey(key); err != nil {
		return err
	}
	if contentType == "" {
		contentType = defaultContentType
	}
	in := &transfermanager.UploadObjectInput{
		Bucket:               aws.String(s.bucket),
		Key:                  aws.String(key),
		Body:                 r,
		ContentType:          aws.String(contentType),
		ServerSideEncryption: tmtypes.ServerSideEncryptionAwsKms,
	}
	if s.kmsKeyID != "" {
		in.SSEKMSKeyID = aws.String(s.kmsKeyID)
	}
	if _, err := s.upload.UploadObject(ctx, in); err != nil {
		return fmt.Errorf("s3: put %s: %w", key, err)
	}
	return nil
}

// Get opens the object's body as S3 streams it. ErrNotFound when absent.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := objects.ValidateKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if nsk := (*types.NoSuchKey)(nil); errors.As(err, &nsk) {
		return nil, fmt.Errorf("s3: get %s: %w", key, objects.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("s3: get %s: %w", key, err)
	}
	return out.Body, nil
}

// Delete removes the object; S3 answers success for an absent key too.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objects.ValidateKey(key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}); err != nil {
		return fmt.Errorf("s3: delete %s: %w", key, err)
	}
	return nil
}

// URL presigns a GET of the object. The link carries the signing credentials' lifetime too:
// signed with a Lambda role's session credentials, it stops working when they expire, even
// before ttl has passed.
func (s *Store) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := objects.ValidateKey(key); err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > objects.MaxURLTTL {
		return "", fmt.Errorf("s3: link lifetime %s outside (0, %s]", ttl, objects.MaxURLTTL)
	}
	req, err := s.presign.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)},
		awss3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3: presign %s: %w", key, err)
	}
	return req.URL, nil
}
