package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"os"
	"os/user"
	"time"

	"github.com/google/uuid"
	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/server"
	"github.com/koya-dev/koya/internal/store"
)

// DefaultProject is created on a server's first start.
const DefaultProject = "default"

// bootstrap makes a fresh server usable at once, like a kubeconfig written
// by a local cluster: the project "default" exists, and the CLI config has
// a context for this server with an admin token. A context whose token this
// server knows is kept (only its URL follows a new port); otherwise a new
// admin token is minted and the context written.
func bootstrap(ctx context.Context, st store.Store, url, contextName string, log *slog.Logger) error {
	if _, err := st.GetProject(ctx, DefaultProject); errs.Is(err, errs.NotFound) {
		p := v1.Project{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Project"},
			Metadata: v1.ObjectMeta{Name: DefaultProject}, Spec: v1.ProjectSpec{Description: "created on the server's first start"}}
		if err := st.PutProject(ctx, p); err != nil {
			return err
		}
		log.Info("created the project", "project", DefaultProject)
	} else if err != nil {
		return err
	}
	path, err := configPath()
	if err != nil {
		return err
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	if x, ok := cfg.context(contextName); ok && x.Token != "" {
		if t, err := st.GetTokenByHash(ctx, server.HashToken(x.Token)); err == nil && t.Admin && !t.Revoked {
			if x.Server == url {
				return nil
			}
			x.Server = url
			cfg.set(x)
			log.Info("updated the CLI config", "path", path, "context", contextName, "server", url)
			return cfg.save(path)
		}
	}
	secret, err := newSecret()
	if err != nil {
		return err
	}
	tok := store.Token{ID: uuid.NewString(), Hash: server.HashToken(secret), Subject: localUser(), Admin: true, CreatedAt: time.Now().UTC()}
	if err := st.CreateToken(ctx, tok); err != nil {
		return err
	}
	cfg.set(Context{Name: contextName, Server: url, Token: secret, Project: DefaultProject})
	if cfg.CurrentContext == "" {
		cfg.CurrentContext = contextName
	}
	if err := cfg.save(path); err != nil {
		return err
	}
	log.Info("wrote an admin token to the CLI config", "path", path, "context", contextName, "server", url)
	return nil
}

// newSecret is a bearer token: 256 random bits.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "koya_" + base64.RawURLEncoding.EncodeToString(b), nil
}

func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if h, err := os.Hostname(); err == nil {
		return "admin@" + h
	}
	return "admin"
}
