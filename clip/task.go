package clip

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/task"
)

func init() {
	task.Register(task.Family{
		Name:          "clip",
		Architectures: []string{"CLIPModel"},
		ModelTypes:    []string{"clip"},
		Tasks:         []string{task.ZeroShot, task.Embed, task.Search},
		Load:          task.Loader(Load, func(m *Model, dir string) task.Model { return m.AsTask("CLIPModel", dir) }),
		LoadFile: task.Loader(loadOpenAIFile, func(m *Model, path string) task.Model {
			return m.AsTask("openai-clip", path)
		}),
	})
}

// loadOpenAIFile loads an OpenAI CLIP checkpoint file, or the one .pt file
// of a folder.
func loadOpenAIFile(path string, opts ...Option) (*Model, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		matches, _ := filepath.Glob(filepath.Join(path, "*.pt"))
		if len(matches) != 1 {
			return nil, fmt.Errorf("%s: %w (and %d .pt checkpoint files, need exactly one)", path, checkpoint.ErrNotFound, len(matches))
		}
		path = matches[0]
	}
	return Load(path, opts...)
}

// AsTask returns m as a task.ZeroShotClassifier, task.Embedder and
// task.Searcher (and task.Model) for the front door; arch and path fill its
// Info. Closing it closes m.
func (m *Model) AsTask(arch, path string) task.Model {
	return &taskModel{Model: m, info: task.Info{
		Family: "clip", Architecture: arch, Path: path,
		Tasks: []string{task.ZeroShot, task.Embed, task.Search},
	}}
}

// taskModel adapts a Model to the task interfaces; EmbedTexts and
// EmbedImages are the model's own.
type taskModel struct {
	*Model
	info task.Info
}

func (t *taskModel) Info() task.Info { return t.info }

func (t *taskModel) ZeroShot(ctx context.Context, img image.Image, labels []string, o task.ZeroShotOptions) ([]task.LabelScore, error) {
	if len(labels) == 0 {
		return nil, fmt.Errorf("%w: zero-shot classification needs labels", ErrInput)
	}
	return t.Model.ZeroShot(ctx, img, labels, ZeroShotOptions{Template: o.Template, TopK: o.TopK})
}

func (t *taskModel) IndexDir(ctx context.Context, dir string, o task.IndexOptions) (task.Index, error) {
	ix, err := t.Model.IndexDir(ctx, dir, IndexOptions{Recursive: o.Recursive, Progress: o.Progress, OnError: o.OnError})
	if err != nil {
		return nil, err
	}
	return &taskIndex{m: t.Model, ix: ix}, nil
}

func (t *taskModel) OpenIndex(ctx context.Context, path, dir string, o task.IndexOptions) (task.Index, task.IndexChanges, error) {
	ix, ch, err := t.Model.OpenIndex(ctx, path, dir, IndexOptions{Recursive: o.Recursive, Progress: o.Progress, OnError: o.OnError})
	if err != nil {
		return nil, task.IndexChanges{}, err
	}
	return &taskIndex{m: t.Model, ix: ix}, ch, nil
}

func (t *taskModel) LoadIndex(path string) (task.Index, error) {
	ix, err := t.Model.LoadIndex(path)
	if err != nil {
		return nil, err
	}
	return &taskIndex{m: t.Model, ix: ix}, nil
}

// taskIndex is an Index bound to the model that searches it.
type taskIndex struct {
	m  *Model
	ix *Index
}

func (x *taskIndex) Len() int               { return x.ix.Len() }
func (x *taskIndex) Save(path string) error { return x.ix.Save(path) }

func (x *taskIndex) SearchText(ctx context.Context, query string, k int) ([]task.Match, error) {
	ms, err := x.m.SearchText(ctx, x.ix, query, k)
	return matches(ms), err
}

func (x *taskIndex) SearchImage(ctx context.Context, img image.Image, k int) ([]task.Match, error) {
	ms, err := x.m.SearchImage(ctx, x.ix, img, k)
	return matches(ms), err
}

func matches(ms []Match) []task.Match {
	out := make([]task.Match, len(ms))
	for i, m := range ms {
		out[i] = task.Match(m)
	}
	return out
}
