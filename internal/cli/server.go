package cli

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/agent"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/container"
	"github.com/koya-dev/koya/internal/backend/kubernetes"
	"github.com/koya-dev/koya/internal/backend/local"
	"github.com/koya-dev/koya/internal/backend/mock"
	"github.com/koya-dev/koya/internal/engine"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/keys/localkek"
	"github.com/koya-dev/koya/internal/objects"
	"github.com/koya-dev/koya/internal/server"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/storeopen"
	"github.com/koya-dev/koya/internal/trigger"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	k8sclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// serverOptions are koya server's flags.
type serverOptions struct {
	addr, dataDir, db, objects, backend string
	kek                                 string
	maxRunning                          int
	historyRetention                    time.Duration
	uploadIdle                          time.Duration
	url, metricsAddr, config            string
	logLevel, logFormat                 string
	agentPath, contextName              string
	containerHost, containerAgent       string
	containerAllowMetadata              bool
	kubeconfig, kubeAgentImage          string
	kubeServerURL, kubeNamespacePrefix  string
	kubeServerCIDRs                     []string
	kubeSimulate                        bool
}

func (a *app) serverCmd() *cobra.Command {
	var o serverOptions
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the koya control plane (API, engine, backends)",
		Long: `Run the koya control plane.

On its first start it creates the project "default" and an admin token, and
writes a context for this server into the CLI config (~/.koya/config.yaml or
$KOYA_CONFIG, mode 0600), so that the other koya commands work right away.

Every flag can also be set by an environment variable KOYA_<FLAG>
(KOYA_DB, KOYA_OBJECTS, KOYA_DATA_DIR, ...), which keeps a database
password out of the process list, and by --config FILE, a YAML file of
flag names to values (addr: 0.0.0.0:7070, db: postgres://..., ...). The
command line wins over the environment, which wins over the file.
/metrics is served on the API listener to admin tokens, and with
--metrics-addr also without a token on a separate listener.`,
		Args: args(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagsFromEnv(cmd.Flags(), os.LookupEnv); err != nil {
				return err
			}
			if o.config != "" {
				if err := flagsFromFile(cmd.Flags(), o.config); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.runServer(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:7070", "address to listen on")
	f.StringVar(&o.dataDir, "data-dir", "", "directory for the embedded database, artifacts and local attempts (default: ~/.koya/data; as root /var/lib/koya, which tasks, run as unprivileged users, can pass through)")
	f.StringVar(&o.db, "db", "", "database: a SQLite file path or postgres://... (default: <data-dir>/koya.db)")
	f.StringVar(&o.objects, "objects", "", "artifact store URL: file:///dir, s3://bucket?region=...&endpoint=..., mem:// (default: file://<data-dir>/objects)")
	f.StringVar(&o.backend, "backend", "local", "backend of steps that say auto or nothing: local, container, kubernetes or mock (the project's defaultBackend and backendPolicy come first)")
	f.IntVar(&o.maxRunning, "max-running", 0, "attempts running at once on this control plane (default: 4 × CPUs)")
	f.DurationVar(&o.uploadIdle, "upload-idle", time.Minute, "how long an upload may send nothing before its request ends (a resumable push then resumes after its last whole part)")
	f.DurationVar(&o.historyRetention, "trigger-history", 7*24*time.Hour, "how long dispatched datalake events and finished trigger queue items are kept (a webhook's idempotency key is remembered as long); 0 keeps them forever")
	f.StringVar(&o.url, "url", "", "URL agents call back on (default: http://<addr>)")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "also serve /metrics without a token on this address")
	f.StringVar(&o.kek, "kek", "", "key-encryption key that wraps every project's keys: file:///path (created 0600 if missing), transit://host:8200/key (Vault/OpenBao; token from VAULT_TOKEN) (default: file://$KOYA_KEK_FILE, else ~/.koya/kek, outside the data directory)")
	f.StringVar(&o.config, "config", "", "YAML file of flag values")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.agentPath, "agent-path", "", "koya binary that backends start as the agent (default: this one)")
	f.StringVar(&o.contextName, "context-name", "local", "name of the context written to the CLI config")
	f.StringVar(&o.containerHost, "container-host", "", "Docker API of the container backend, on this machine: unix:///var/run/docker.sock, unix:///run/podman/podman.sock (default: $DOCKER_HOST; neither: no container backend)")
	f.StringVar(&o.containerAgent, "container-agent", "", "static koya binary mounted into containers as their agent (default: this one, if statically linked)")
	f.BoolVar(&o.containerAllowMetadata, "container-allow-metadata", false, "do not block containers from the cloud metadata addresses (the operator blocks them otherwise)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the kubernetes backend's cluster (default: $KUBECONFIG; else, inside a pod, the in-cluster config; none: no kubernetes backend)")
	f.StringVar(&o.kubeAgentImage, "kubernetes-agent-image", "", "image holding a static koya binary at /koya, copied into every pod as its agent (required with a cluster)")
	f.StringVar(&o.kubeServerURL, "kubernetes-server-url", "", "the control plane's URL as pods reach it (default: --url); network: none pods may connect to its host and port only")
	f.StringSliceVar(&o.kubeServerCIDRs, "kubernetes-server-cidr", nil, "the control plane's addresses for the network policy of network: none pods (default: the addresses of --kubernetes-server-url's host)")
	f.StringVar(&o.kubeNamespacePrefix, "kubernetes-namespace-prefix", "koya-", "a project's pods run in the namespace <prefix><project>")
	f.BoolVar(&o.kubeSimulate, "kubernetes-kwok", false, "the cluster is simulated by kwok: pods run no container and finish as their command asks (tests); image configs are not read")
	_ = f.MarkHidden("agent-path")
	_ = f.MarkHidden("kubernetes-kwok")
	cmd.AddCommand(&cobra.Command{
		Use:    "install-agent DIR",
		Short:  "Copy this koya binary to DIR/koya (the init container of kubernetes pods)",
		Hidden: true,
		Args:   args(1, "a directory"),
		RunE:   func(_ *cobra.Command, argv []string) error { return kubernetes.InstallAgent(argv[0]) },
	})
	return cmd
}

func (a *app) runServer(ctx context.Context, o serverOptions) error {
	log, err := newLogger(a.stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	if o.dataDir == "" {
		o.dataDir = "~/.koya/data"
		if os.Geteuid() == 0 {
			o.dataDir = "/var/lib/koya"
		}
	}
	dataDir, err := expandHome(o.dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return errs.Wrap(errs.Invalid, err, "cannot create the data directory %s: %v", dataDir, err)
	}
	if agent.TaskUsers() {
		// Tasks pass through it to their working directories (traversable,
		// not listable); the database, objects and attempts' files in it
		// stay closed to them.
		if err := os.Chmod(dataDir, 0o711); err != nil {
			return errs.Wrap(errs.Invalid, err, "data directory %s: %v", dataDir, err)
		}
	}
	if o.db == "" {
		o.db = filepath.Join(dataDir, "koya.db")
	}
	if o.objects == "" {
		o.objects = "file://" + filepath.Join(dataDir, "objects")
	}
	st, err := storeopen.Open(ctx, o.db)
	if err != nil {
		return err
	}
	defer st.Close()
	if o.kek == "" {
		path, err := localkek.DefaultPath()
		if err != nil {
			return err
		}
		o.kek = "file://" + path
	}
	kek, err := keys.OpenKEK(ctx, o.kek)
	if err != nil {
		return err
	}
	keyring := keys.NewKeyring(kek, server.KeysetStore(st), keys.Options{})
	objs, err := objects.Open(ctx, o.objects, keyring)
	if err != nil {
		return err
	}
	defer objs.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	backends := backend.NewRegistry(reg)
	localDrv, err := local.New(local.Options{Root: filepath.Join(dataDir, "attempts"), AgentPath: o.agentPath})
	if err != nil {
		return err
	}
	mockDrv := mock.New()
	defer mockDrv.Close()
	drivers := []backend.Driver{localDrv, mockDrv}
	if o.containerHost == "" {
		o.containerHost = os.Getenv("DOCKER_HOST")
	}
	if o.containerHost != "" {
		cd, err := newContainerDriver(ctx, o, dataDir)
		if err != nil {
			return err
		}
		defer cd.Close()
		drivers = append(drivers, cd)
	}
	kd, err := newKubernetesDriver(ctx, o, st)
	if err != nil {
		return err
	}
	if kd != nil {
		defer kd.Close()
		drivers = append(drivers, kd)
	}
	for _, d := range drivers {
		if _, err := backends.Add(d); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "cannot listen on %s: %v", o.addr, err)
	}
	defer ln.Close()
	localURL := "http://" + reachable(ln.Addr())
	agentURL := o.url
	if agentURL == "" {
		agentURL = localURL
	}
	eng, err := engine.New(engine.Config{Store: st, Backends: backends, ServerURL: agentURL, Unseal: server.Unsealer(keyring),
		DefaultBackend: o.backend, MaxRunning: o.maxRunning, Logger: log.With("component", "engine"), Metrics: reg})
	if err != nil {
		return err
	}
	mockDrv.SetReporter(eng)
	if kd != nil {
		kd.SetNotifier(eng.TaskEnded) // pods that end tell the engine at once
	}
	triggers, err := trigger.New(trigger.Config{Store: st, Engine: eng, Retention: o.historyRetention, Logger: log.With("component", "triggers"), Metrics: reg})
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{Store: st, Objects: objs, Engine: eng, Triggers: triggers, Keys: keyring, Logger: log.With("component", "api"),
		Metrics: reg, Version: Version, UploadIdle: o.uploadIdle})
	if err != nil {
		return err
	}
	defer func() { // before the store closes: moving data between keys uses it
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = srv.Stop(stopCtx)
	}()
	if err := bootstrap(ctx, st, localURL, o.contextName, log); err != nil {
		return err
	}
	if err := srv.Resume(ctx); err != nil { // moves between keys that a restart cut
		return err
	}
	go sweepLeftovers(ctx, objs, log.With("component", "objects"))
	if err := eng.Start(ctx); err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = eng.Stop(stopCtx)
	}()
	if err := triggers.Start(ctx); err != nil { // after the engine: it creates runs
		return err
	}
	defer func() { // before the engine stops
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = triggers.Stop(stopCtx)
	}()
	if o.metricsAddr != "" {
		mln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			return errs.Wrap(errs.Unavailable, err, "cannot listen on %s: %v", o.metricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		go func() { _ = server.ServeListener(ctx, mln, mux) }()
	}
	log.Info("koya server listening", "url", localURL, "db", st.Dialect(), "objects", objs.String(), "kek", kek.Name(),
		"backends", strings.Join(backends.Names(), ","), "default_backend", o.backend, "version", Version)
	err = server.ServeListener(ctx, ln, srv)
	log.Info("koya server stopped")
	return err
}

// newContainerDriver is the container backend over --container-host, its
// agent the static koya binary (this one unless --container-agent).
func newContainerDriver(ctx context.Context, o serverOptions, dataDir string) (*container.Driver, error) {
	agentBin := o.containerAgent
	if agentBin == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "container backend: finding the koya binary")
		}
		if err := container.CheckStatic(self); err != nil {
			return nil, errs.E(errs.Invalid, "container backend: this koya binary cannot be mounted into containers as their agent (%v); give a static one with --container-agent", err)
		}
		agentBin = self
	}
	return container.New(ctx, container.Options{Host: o.containerHost, Root: filepath.Join(dataDir, "containers"),
		AgentPath: agentBin, AllowMetadata: o.containerAllowMetadata})
}

// reachable is a listener's address as a client on this machine dials it.
func reachable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return filepath.Abs(p)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "cannot find the home directory for %s; give an absolute path", p)
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

func newLogger(w interface{ Write([]byte) (int, error) }, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

// newKubernetesDriver is the kubernetes backend over --kubeconfig (else
// $KUBECONFIG, else the in-cluster config inside a pod); nil when no
// cluster is configured.
func newKubernetesDriver(ctx context.Context, o serverOptions, st store.Store) (*kubernetes.Driver, error) {
	path := o.kubeconfig
	if path == "" {
		path = os.Getenv("KUBECONFIG")
	}
	var cfg *rest.Config
	var err error
	switch {
	case path != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "" && o.kubeAgentImage != "":
		cfg, err = rest.InClusterConfig()
	default:
		return nil, nil
	}
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "kubernetes backend: cluster config %s: %v", path, err)
	}
	if o.kubeAgentImage == "" {
		return nil, usagef("the kubernetes backend needs --kubernetes-agent-image (an image with a static koya at /koya)")
	}
	if cfg.QPS == 0 { // client-go's default (5/s) would pace a burst of pods
		cfg.QPS, cfg.Burst = 100, 200
	}
	client, err := k8sclient.NewForConfig(cfg)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "kubernetes backend: %v", err)
	}
	serverURL := o.kubeServerURL
	if serverURL == "" {
		serverURL = o.url
	}
	ko := kubernetes.Options{Client: client, AgentImage: o.kubeAgentImage, ServerURL: serverURL, ServerCIDRs: o.kubeServerCIDRs,
		NamespacePrefix: o.kubeNamespacePrefix, Simulate: o.kubeSimulate,
		ProjectPlacement: func(ctx context.Context, project string) (map[string]string, []v1.Toleration, error) {
			p, err := st.GetProject(ctx, project)
			if errs.Is(err, errs.NotFound) {
				return nil, nil, nil
			}
			return p.Spec.NodeSelector, p.Spec.Tolerations, err
		}}
	if o.kubeSimulate {
		ko.Resolver = kubernetes.NoResolve{}
	}
	nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return kubernetes.New(nctx, ko)
}

// sweepLeftovers deletes, at the start and then daily, what writes cut by
// a crash left in a file:// object store once it is a day old (see
// objects.Store.SweepLeftovers), until ctx ends.
func sweepLeftovers(ctx context.Context, objs *objects.Store, log *slog.Logger) {
	for {
		n, err := objs.SweepLeftovers(ctx, 24*time.Hour, time.Now())
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("sweeping the leftovers of cut writes failed", "err", err)
		case n > 0:
			log.Info("deleted the leftovers of writes cut by a crash", "files", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(24 * time.Hour):
		}
	}
}
