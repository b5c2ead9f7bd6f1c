package v1

// Object is any koya document: the envelope every kind shares.
type Object interface {
	GetTypeMeta() TypeMeta
	GetMetadata() *ObjectMeta
}

func (w *Workflow) GetTypeMeta() TypeMeta    { return w.TypeMeta }
func (w *Workflow) GetMetadata() *ObjectMeta { return &w.Metadata }
func (p *Project) GetTypeMeta() TypeMeta     { return p.TypeMeta }
func (p *Project) GetMetadata() *ObjectMeta  { return &p.Metadata }
func (r *Run) GetTypeMeta() TypeMeta         { return r.TypeMeta }
func (r *Run) GetMetadata() *ObjectMeta      { return &r.Metadata }
