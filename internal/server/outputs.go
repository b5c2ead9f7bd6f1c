package server

import (
	"context"
	"encoding/json"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/engine"
	"github.com/koya-dev/koya/internal/keys"
)

// outputValueKind binds a sealed output value to its artifact: the value
// of one output does not open as another's.
const outputValueKind = "output-value"

// sealValue moves a small JSON output's Value into Sealed, encrypted with
// the project's key: the engine stores outputs, and the database must not
// hold their content in clear.
func (s *Server) sealValue(ctx context.Context, project string, out *v1.Output) error {
	if len(out.Value) == 0 {
		return nil
	}
	sealed, err := s.keys.Encrypt(ctx, project, outputValueKind, out.Ref, out.Value)
	if err != nil {
		return err
	}
	out.Sealed, out.Value = sealed, nil
	return nil
}

// Unsealer opens sealed output values for the engine's templates.
func Unsealer(kr *keys.Keyring) engine.Unsealer {
	return func(ctx context.Context, project string, o v1.Output) (json.RawMessage, error) {
		return kr.Decrypt(ctx, project, outputValueKind, o.Ref, o.Sealed)
	}
}

// unsealForReaders gives authorised readers the values in clear (and not
// the ciphertext); a value that does not open is left out.
func (s *Server) unsealForReaders(ctx context.Context, project string, outs map[string]v1.Output) {
	for name, o := range outs {
		if len(o.Sealed) == 0 {
			continue
		}
		v, err := s.keys.Decrypt(ctx, project, outputValueKind, o.Ref, o.Sealed)
		if err != nil {
			s.log.Warn("an output value does not open", "project", project, "ref", o.Ref, "err", err)
		}
		o.Value, o.Sealed = v, nil
		outs[name] = o
	}
}
