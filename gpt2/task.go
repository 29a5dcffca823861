package gpt2

import (
	"context"
	"fmt"
	"image"
	"strings"

	"github.com/goformer/goformer/task"
)

func init() {
	task.Register(task.Family{
		Name:          "vit-gpt2",
		Architectures: []string{"VisionEncoderDecoderModel"},
		ModelTypes:    []string{"vision-encoder-decoder"},
		Tasks:         []string{task.Caption},
		Load: func(dir string, o task.LoadOptions) (task.Model, error) {
			c, err := LoadCaptioner(dir, o.NN()...)
			if err != nil {
				return nil, err
			}
			return c.AsTask("VisionEncoderDecoderModel", dir), nil
		},
	})
}

// AsTask returns c as a task.Captioner (and task.Model) for the front door;
// arch and path fill its Info. Closing it closes c.
func (c *Captioner) AsTask(arch, path string) task.Model {
	return &taskModel{c: c, info: task.Info{Family: "vit-gpt2", Architecture: arch, Path: path, Tasks: []string{task.Caption}}}
}

type taskModel struct {
	c    *Captioner
	info task.Info
}

func (t *taskModel) Info() task.Info { return t.info }
func (t *taskModel) Close() error    { return t.c.Close() }

// Captioner returns the captioner behind a front-door model.
func (t *taskModel) Captioner() *Captioner { return t.c }

func (t *taskModel) Caption(ctx context.Context, img image.Image, o task.CaptionOptions) (*task.CaptionResult, error) {
	if err := t.CheckOptions(o); err != nil {
		return nil, err
	}
	c, err := t.c.Caption(ctx, img, CaptionOptions{Beams: o.Beams, MaxNewTokens: o.MaxNewTokens})
	if err != nil {
		return nil, err
	}
	return &task.CaptionResult{Text: strings.TrimSpace(c.Text), IDs: c.IDs}, nil
}

// CheckOptions tells whether the model honours the options of a task
// (task.OptionChecker).
func (t *taskModel) CheckOptions(opt any) error {
	o, ok := opt.(task.CaptionOptions)
	if !ok {
		return nil
	}
	switch {
	case o.Prompt != "":
		return &task.OptionError{Option: "prompt", Err: fmt.Errorf("%w: a ViT-GPT2 captioner does not take a prompt; use a BLIP captioning model", ErrInput)}
	case o.Beams < 0:
		return &task.OptionError{Option: "beams", Err: fmt.Errorf("%w: beams must not be negative", ErrInput)}
	case o.MaxNewTokens < 0:
		return &task.OptionError{Option: "max_new_tokens", Err: fmt.Errorf("%w: max tokens must not be negative", ErrInput)}
	}
	return nil
}
