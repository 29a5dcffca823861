package main

import (
	"context"
	"io"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/hub"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tensor"
)

// model is a loaded model with the name it was asked for. The command only
// talks to it through the front door's task interfaces.
type model struct {
	// Name is how the model was asked for (a Hub id or a path), or the name
	// given on the serve command line.
	Name string
	goformer.Model
}

// Tasks lists what the model does.
func (m *model) Tasks() []string { return m.Info().Tasks }

// Supports reports whether the model does task.
func (m *model) Supports(task string) bool { return m.Info().Does(task) }

// Family names the implementation.
func (m *model) Family() string { return m.Info().Family }

// Arch is the architecture that chose the implementation.
func (m *model) Arch() string { return m.Info().Architecture }

// errWrongTask is matched when a model is asked for a task it does not do.
var errWrongTask = goformer.ErrUnsupported

// wrongTask explains which tasks the model does instead.
func (m *model) wrongTask(name string) error { return task.Unsupported(m.Name, m.Model, name) }

// loader resolves model references and loads them.
type loader struct {
	// hub fetches Hub ids; nil uses hub.New() configured from the environment.
	hub *hub.Client
	// stderr receives download progress when it is a terminal.
	stderr io.Writer
	// weightType is what float32 weights are packed as (-weights); kvType
	// what decoders keep cross-attention keys and values as (-kv),
	// selfKVType their self-attention caches (-selfkv).
	weightType, kvType, selfKVType tensor.WeightType
	// device is where models load (-device; nil: the host).
	device     *tensor.Device
	deviceName string
}

// load resolves ref and loads it through the front door. family names the
// family of a checkpoint without config.json ("" tries each).
func (l *loader) load(ctx context.Context, ref, family string) (*model, error) {
	c := l.hub
	if c == nil {
		c = hub.New()
		if bar := newDownloadProgress(l.stderr); bar != nil {
			c.Progress = bar.update
			defer bar.finish()
		}
	}
	m, err := goformer.Load(ctx, ref, goformer.WithHub(c), goformer.WithFamily(family),
		goformer.WithWeightType(l.weightType), goformer.WithKVType(l.kvType), goformer.WithSelfKVType(l.selfKVType), goformer.WithDevice(l.device))
	if err != nil {
		return nil, err
	}
	return &model{Name: ref, Model: m}, nil
}

// loadPath loads a local model directory or checkpoint file; family as in
// load.
func loadPath(path, family string) (*model, error) {
	return (&loader{}).load(context.Background(), path, family)
}
