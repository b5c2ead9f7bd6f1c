package engine

// The engine's surface used by the HTTP server (internal/server):
//
//	func New(cfg Config) (*Engine, error)
//	func (e *Engine) Start(ctx context.Context) error   // planner, dispatcher, reconciler loops
//	func (e *Engine) Stop(ctx context.Context) error
//	func (e *Engine) Submit(ctx context.Context, project, workflow string, params map[string]any) (store.Run, error)
//	func (e *Engine) Cancel(ctx context.Context, runID string) error
//	func (e *Engine) Retry(ctx context.Context, runID string) (store.Run, error)
//	func (e *Engine) RunView(ctx context.Context, runID string) (v1.Run, error)
//	func (e *Engine) Ingest(ctx context.Context, attemptID string, events []v1.AgentEvent) (v1.AgentEventAck, error)
//	func (e *Engine) Changes() *Notifier  // wakes SSE followers when a run or its logs change
//
// Cfg holds the store, the object store, the backends and the server URL
// that agents call back on.
