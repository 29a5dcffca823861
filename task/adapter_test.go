package task

import (
	"errors"
	"testing"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// fakeModel is a family's model as the adapter sees it.
type fakeModel struct {
	path   string
	opts   int
	closed int
}

func (m *fakeModel) Close() error { m.closed++; return nil }

func TestLoaderAndAdapter(t *testing.T) {
	errLoad := errors.New("no such model")
	load := func(path string, opts ...nn.LoadOption) (*fakeModel, error) {
		if path == "missing" {
			return nil, errLoad
		}
		return &fakeModel{path: path, opts: len(opts)}, nil
	}
	type adapted struct{ Adapter[*fakeModel] }
	f := Loader(load, func(m *fakeModel, path string) Model {
		return &adapted{NewAdapter(m, Info{Family: "fake", Architecture: "FakeModel", Path: path, Tasks: []string{Caption}})}
	})

	if m, err := f("missing", LoadOptions{}); !errors.Is(err, errLoad) || m != nil {
		t.Errorf("missing model: %v, %v; want the load error and no model", m, err)
	}
	m, err := f("dir", LoadOptions{WeightType: tensor.WeightF16})
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	if info.Family != "fake" || info.Architecture != "FakeModel" || info.Path != "dir" || !info.Does(Caption) {
		t.Errorf("info %+v", info)
	}
	fm := m.(interface{ Model() *fakeModel }).Model()
	if fm.path != "dir" || fm.opts != len(LoadOptions{}.NN()) {
		t.Errorf("loaded %+v: want path dir and every load option passed", fm)
	}
	if err := m.Close(); err != nil || fm.closed != 1 {
		t.Errorf("Close: %v, model closed %d times", err, fm.closed)
	}
}

func TestGenerationLimits(t *testing.T) {
	sentinel := NewInputError("fake: invalid input")
	l := GenerationLimits{Beams: 4, Positions: 10}
	for _, c := range []struct {
		opt    any
		option string // "" for no error
	}{
		{CaptionOptions{}, ""},
		{CaptionOptions{Beams: 4, MaxNewTokens: 10}, ""},
		{CaptionOptions{Beams: -1}, "beams"},
		{CaptionOptions{Beams: 5}, "beams"},
		{CaptionOptions{MaxNewTokens: -1}, "max_new_tokens"},
		{AnswerOptions{MaxNewTokens: 11}, "max_new_tokens"},
		{AnswerOptions{Beams: 5, MaxNewTokens: 11}, "beams"},
		{ChatOptions{MaxNewTokens: 10}, ""},
		{ChatOptions{MaxNewTokens: 11}, "max_new_tokens"},
		{TranscribeOptions{Beams: -1}, ""},
		{nil, ""},
	} {
		err := l.Check(sentinel, c.opt)
		var oe *OptionError
		switch {
		case c.option == "" && err != nil:
			t.Errorf("%#v: %v, want no error", c.opt, err)
		case c.option != "" && (!errors.As(err, &oe) || oe.Option != c.option || !errors.Is(err, sentinel) || !errors.Is(err, ErrInput)):
			t.Errorf("%#v: %v, want an OptionError naming %s that matches the family's and the task's input error", c.opt, err, c.option)
		}
	}
	// Without limits only negative values are refused.
	if err := (GenerationLimits{}).Check(sentinel, AnswerOptions{Beams: 1000, MaxNewTokens: 1 << 20}); err != nil {
		t.Errorf("no limits: %v", err)
	}
	if err := (GenerationLimits{}).Check(sentinel, AnswerOptions{Beams: -2}); err == nil {
		t.Error("no limits: negative beams accepted")
	}
}
