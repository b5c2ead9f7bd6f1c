package kubernetes

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/koya-dev/koya/errs"
)

// ImageConfig is what the driver needs from an image's config: the
// entrypoint the agent runs before the step's command, and the user and
// working directory the image declares.
type ImageConfig struct {
	Entrypoint []string
	User       string
	WorkingDir string
}

// Resolver reads image configs at submit time, so that the cluster never
// needs registry credentials for koya at run time (the kubelet pulls with
// its own).
type Resolver interface {
	Resolve(ctx context.Context, ref string) (ImageConfig, error)
}

// NoResolve answers an empty config for every image: the step's command
// is run as written (the image's ENTRYPOINT is not prepended) and the
// image's USER and WORKDIR are not known. For kwok tests, whose images
// exist nowhere, and for clusters whose images have no ENTRYPOINT.
type NoResolve struct{}

func (NoResolve) Resolve(context.Context, string) (ImageConfig, error) { return ImageConfig{}, nil }

// RegistryResolver reads image configs from their registries
// (go-containerregistry), with Keychain's credentials, and caches them:
// by digest for ever, by tag for TTL.
type RegistryResolver struct {
	// Keychain gives registry credentials (default authn.DefaultKeychain:
	// ~/.docker/config.json, $DOCKER_CONFIG, credential helpers).
	Keychain authn.Keychain
	// Platform picks from multi-platform images (default linux/amd64).
	Platform ggcr.Platform
	// TTL keeps a tag's config this long (default 10m).
	TTL time.Duration
	// Transport, if set, is used to reach registries.
	Transport http.RoundTripper
	// Clock (default time.Now).
	Clock func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	cfg ImageConfig
	at  time.Time
}

// Resolve reads ref's config, from the cache when fresh.
func (r *RegistryResolver) Resolve(ctx context.Context, ref string) (ImageConfig, error) {
	now := time.Now()
	if r.Clock != nil {
		now = r.Clock()
	}
	ttl := r.TTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	pinned := strings.Contains(ref, "@sha256:")
	r.mu.Lock()
	if c, ok := r.cache[ref]; ok && (pinned || now.Sub(c.at) < ttl) {
		r.mu.Unlock()
		return c.cfg, nil
	}
	r.mu.Unlock()

	parsed, err := name.ParseReference(ref)
	if err != nil {
		return ImageConfig{}, errs.At(errs.Invalid, "image", "%q is not an image reference: %v", ref, err)
	}
	kc := r.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	plat := r.Platform
	if plat.OS == "" {
		plat = ggcr.Platform{OS: "linux", Architecture: "amd64"}
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithPlatform(plat)}
	if r.Transport != nil {
		opts = append(opts, remote.WithTransport(r.Transport))
	}
	img, err := remote.Image(parsed, opts...)
	if err != nil {
		return ImageConfig{}, imageErr(ctx, ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return ImageConfig{}, imageErr(ctx, ref, err)
	}
	cfg := ImageConfig{Entrypoint: cf.Config.Entrypoint, User: cf.Config.User, WorkingDir: cf.Config.WorkingDir}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]cached{}
	}
	r.cache[ref] = cached{cfg: cfg, at: now}
	r.mu.Unlock()
	return cfg, nil
}

func imageErr(ctx context.Context, ref string, err error) error {
	if ctx.Err() != nil {
		return errs.Wrap(errs.Unavailable, err, "reading the config of image %q: interrupted", ref)
	}
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests {
		// The registry is down or unreachable: try again later.
		return errs.Wrap(errs.Unavailable, err, "reading the config of image %q: %v", ref, err)
	}
	return errs.At(errs.Invalid, "image", "cannot read the config of image %q (its entrypoint is needed to run it under the agent): %v", ref, err)
}
