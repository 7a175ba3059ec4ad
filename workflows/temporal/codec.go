package temporal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Payload metadata of an encrypted payload.
const (
	encodingEncrypted = "binary/encrypted"
	metaEncoding      = "encoding"
	metaKeyID         = "encryption-key-id"
)

// Codec encrypts every payload (a workflow's input and result, an
// activity's arguments and result, a query's answer) with AES-256-GCM
// under one key, so that arguments and results are not readable in
// Temporal's history or by anyone who can read its database. Clients and
// workers of a namespace must share the key (Converters gives their
// options).
type Codec struct {
	keyID string
	aead  cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns a Codec for a 32-byte key; keyID names the key in each
// payload's metadata (it is not secret), so that a key can be rotated.
func NewCodec(keyID string, key []byte) (*Codec, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("payload codec: the key has %d bytes, want 32 (AES-256)", len(key))
	}
	if keyID == "" {
		return nil, errors.New("payload codec: the key id is empty")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("payload codec: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("payload codec: %w", err)
	}
	return &Codec{keyID: keyID, aead: aead}, nil
}

// Encode encrypts each payload whole (metadata and data), the key id as
// additional data.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("payload codec: %w", err)
		}
		nonce := make([]byte, c.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("payload codec: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{metaEncoding: []byte(encodingEncrypted), metaKeyID: []byte(c.keyID)},
			Data:     c.aead.Seal(nonce, nonce, plain, []byte(c.keyID)),
		}
	}
	return out, nil
}

// Decode decrypts the payloads Encode made and passes others through; a
// payload under another key, or altered, is an error.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[metaEncoding]) != encodingEncrypted {
			out[i] = p
			continue
		}
		if id := string(p.GetMetadata()[metaKeyID]); id != c.keyID {
			return nil, fmt.Errorf("payload codec: a payload is encrypted under key %q, this codec has %q", id, c.keyID)
		}
		n := c.aead.NonceSize()
		if len(p.GetData()) < n {
			return nil, errors.New("payload codec: an encrypted payload is too short")
		}
		plain, err := c.aead.Open(nil, p.Data[:n], p.Data[n:], []byte(c.keyID))
		if err != nil {
			return nil, fmt.Errorf("payload codec: a payload under key %q does not decrypt: %w", c.keyID, err)
		}
		var dp commonpb.Payload
		if err := proto.Unmarshal(plain, &dp); err != nil {
			return nil, fmt.Errorf("payload codec: %w", err)
		}
		out[i] = &dp
	}
	return out, nil
}

// Converters are the data and failure converters of clients, workers and
// replayers that use codec: payloads encrypted, and failures' messages and
// stack traces too (EncodeCommonAttributes), since an error can quote an
// argument or a result.
func Converters(codec *Codec) (converter.DataConverter, converter.FailureConverter) {
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), codec)
	fc := temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true})
	return dc, fc
}
