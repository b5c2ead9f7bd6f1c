package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/goccy/go-yaml"
	"github.com/koya-dev/koya/errs"
)

// Config is the CLI's config file (~/.koya/config.yaml, or $KOYA_CONFIG):
// named contexts of server, token and project, like a kubeconfig. It holds
// tokens, so it is written 0600.
type Config struct {
	CurrentContext string    `yaml:"current-context" json:"current-context"`
	Contexts       []Context `yaml:"contexts" json:"contexts"`
}

// Context is one server, token and default project.
type Context struct {
	Name    string `yaml:"name" json:"name"`
	Server  string `yaml:"server" json:"server"`
	Token   string `yaml:"token" json:"token"`
	Project string `yaml:"project,omitempty" json:"project,omitempty"`
}

// configPath is $KOYA_CONFIG, else ~/.koya/config.yaml.
func configPath() (string, error) {
	if p := os.Getenv("KOYA_CONFIG"); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "cannot find the home directory for ~/.koya/config.yaml; set KOYA_CONFIG")
	}
	return filepath.Join(home, ".koya", "config.yaml"), nil
}

// openConfig reads the config at configPath and returns it with its path
// (for saving it back).
func openConfig() (Config, string, error) {
	path, err := configPath()
	if err != nil {
		return Config{}, "", err
	}
	cfg, err := loadConfig(path)
	return cfg, path, err
}

// loadConfig reads the config file; a missing one is an empty config.
func loadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, errs.Wrap(errs.Invalid, err, "cannot read the config %s: %v", path, err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, errs.Wrap(errs.Invalid, err, "the config %s is not valid: %v", path, err)
	}
	return c, nil
}

// save writes the config atomically, readable by its owner only.
func (c Config) save(path string) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return errs.Wrap(errs.Internal, err, "cannot create %s: %v", filepath.Dir(path), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.yaml")
	if err != nil {
		return errs.Wrap(errs.Internal, err, "cannot write the config: %v", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return errs.Wrap(errs.Internal, err, "cannot write the config: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// context returns the named context (the current one if name is empty).
func (c Config) context(name string) (Context, bool) {
	if name == "" {
		name = c.CurrentContext
	}
	for _, x := range c.Contexts {
		if x.Name == name {
			return x, true
		}
	}
	return Context{}, false
}

// set adds or replaces a context by name.
func (c *Config) set(x Context) {
	for i := range c.Contexts {
		if c.Contexts[i].Name == x.Name {
			c.Contexts[i] = x
			return
		}
	}
	c.Contexts = append(c.Contexts, x)
}
