package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/koya-dev/koya/errs"
	"github.com/spf13/pflag"
)

// flagEnv is the environment variable of a server flag: KOYA_ and the
// flag's name in capitals, dashes as underscores (--data-dir:
// KOYA_DATA_DIR).
func flagEnv(flag string) string {
	return "KOYA_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// flagsFromEnv sets the flags the command line left alone from their
// environment variables. --config has none: KOYA_CONFIG names the CLI's
// config file, which the server writes its context into.
func flagsFromEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Changed || fl.Name == "config" {
			return
		}
		name := flagEnv(fl.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if e := fs.Set(fl.Name, v); e != nil {
			err = errs.At(errs.Invalid, name, "%v", e)
		}
	})
	return err
}

// flagsFromFile sets the flags the command line and the environment left
// alone from a YAML file.
func flagsFromFile(fs *pflag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "cannot read --config %s: %v", path, err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		return errs.At(errs.Invalid, path, "not a YAML map of flag values: %v", err)
	}
	for k, v := range values {
		fl := fs.Lookup(k)
		if fl == nil || k == "config" {
			return errs.At(errs.Invalid, path, "%q is not a flag of koya server", k)
		}
		if fl.Changed {
			continue
		}
		if err := fs.Set(k, fmt.Sprint(v)); err != nil {
			return errs.At(errs.Invalid, path+": "+k, "%v", err)
		}
	}
	return nil
}
