package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/koya-dev/koya/api/v1"
)

// Secrets reach the command as environment variables NAME and, where a
// memory-backed file system is at hand, as files (0600) in a fresh
// directory Options.SecretDir/koya-<attempt>-*, named by
// KOYA_SECRET_FILE_<NAME> and removed when the command ends. Their values
// go nowhere else: not to the manifest, the outbox, the attempt directory
// nor the agent's own log; the log lines of the task have them masked.

// secrets is what the command gets of the step's secrets.
type secrets struct {
	env map[string]string // NAME and KOYA_SECRET_FILE_<NAME>
	dir string            // the files' directory ("" if none)
	red *redactor
}

// fetchSecrets asks the control plane for the step's secrets (it decides
// which, from the task it rendered) and lays them out for the command.
// Nothing is asked when the manifest lists none.
func (a *attempt) fetchSecrets(ctx context.Context) (*secrets, error) {
	if len(a.m.Secrets) == 0 {
		return &secrets{}, nil
	}
	var got v1.AgentSecrets
	err := retry(ctx, a.opts, a.log, "fetching secrets", func(ctx context.Context) error {
		return a.cl.do(ctx, "GET", "/secrets", nil, &got)
	})
	var se *statusError
	if errors.As(err, &se) {
		return nil, fmt.Errorf("secrets: %s", se.err.Error()) // the control plane's reason, as it gave it
	}
	if err != nil {
		return nil, fmt.Errorf("secrets: %v", err)
	}
	s := &secrets{env: map[string]string{}}
	values := make([][]byte, 0, len(got.Secrets))
	for _, sec := range got.Secrets {
		s.env[sec.Name] = string(sec.Value)
		values = append(values, sec.Value)
	}
	s.red = newRedactor(values)
	if err := s.writeFiles(a.opts.SecretDir, a.m.AttemptID, got.Secrets); err != nil {
		a.system("secrets: no files (only environment variables): %v", err)
		s.remove()
	}
	return s, nil
}

// writeFiles writes each secret to a file in memory-backed storage.
func (s *secrets) writeFiles(shm, attemptID string, list []v1.AgentSecret) error {
	if len(list) == 0 {
		return nil
	}
	if !memoryBacked(shm) {
		return fmt.Errorf("%s is not a memory-backed file system here", shm)
	}
	// MkdirTemp: a fresh 0700 directory, never one planted in the shared
	// /dev/shm beforehand.
	dir, err := os.MkdirTemp(shm, "koya-"+safeName(attemptID)+"-")
	if err != nil {
		return err
	}
	s.dir = dir
	for _, sec := range list {
		p := filepath.Join(dir, sec.Name)
		if err := os.WriteFile(p, sec.Value, 0o600); err != nil {
			return err
		}
		s.env["KOYA_SECRET_FILE_"+sec.Name] = p
	}
	return nil
}

// remove deletes the secret files.
func (s *secrets) remove() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
		s.dir = ""
	}
	for k := range s.env {
		if strings.HasPrefix(k, "KOYA_SECRET_FILE_") {
			delete(s.env, k)
		}
	}
}

// removeSecretFiles deletes what a dead agent of this attempt may have
// left in shm (a restarted agent never runs the command again).
func removeSecretFiles(shm, attemptID string) {
	dirs, _ := filepath.Glob(filepath.Join(shm, "koya-"+safeName(attemptID)+"-*"))
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}

// safeName keeps what a file name may hold of an attempt id.
func safeName(id string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			return c
		}
		return '_'
	}, id)
}
