package cli

import (
	"context"
	"log/slog"
	"os"
	"os/user"
	"time"

	"github.com/google/uuid"
	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
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
	cfg, path, err := openConfig()
	if err != nil {
		return err
	}
	if x, ok := cfg.context(contextName); ok && x.Token != "" {
		if t, err := st.GetTokenByHash(ctx, store.HashSecret(x.Token)); err == nil && !t.Revoked && isAdmin(ctx, st, t.Subject) {
			if x.Server == url {
				return nil
			}
			x.Server = url
			cfg.set(x)
			log.Info("updated the CLI config", "path", path, "context", contextName, "server", url)
			return cfg.save(path)
		}
	}
	// The local user is an administrator (a principal kept if it exists).
	name := localUser()
	p, err := st.GetPrincipal(ctx, name)
	if errs.Is(err, errs.NotFound) {
		p = store.Principal{Name: name, Kind: store.KindUser}
	} else if err != nil {
		return err
	}
	p.Admin, p.Disabled = true, false
	if err := st.PutPrincipal(ctx, p); err != nil {
		return err
	}
	secret, hash := store.NewSecret("koya_")
	tok := store.Token{ID: uuid.NewString(), Hash: hash, Subject: name, Admin: true,
		Description: "written to the CLI config on the server's first start", CreatedAt: time.Now().UTC()}
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

// isAdmin reports whether the principal exists, is enabled and is an
// administrator.
func isAdmin(ctx context.Context, st store.Store, name string) bool {
	p, err := st.GetPrincipal(ctx, name)
	return err == nil && p.Admin && !p.Disabled
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
