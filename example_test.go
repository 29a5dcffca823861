package goformer_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log"
	"os"

	"github.com/goformer/goformer"
)

// The examples load the random-weight fixture models of the project's
// reference data (../shared/fixtures); their outputs are what transformers
// produced for the same weights. A real checkpoint is named the same way:
// goformer.Load(ctx, "Salesforce/blip-image-captioning-large").

// load loads a model, stopping the example on an error.
func load(ctx context.Context, ref string) goformer.Model {
	m, err := goformer.Load(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	return m
}

// open decodes an image file.
func open(path string) image.Image {
	img, err := goformer.DecodeImageFile(path)
	if err != nil {
		log.Fatal(err)
	}
	return img
}

// LoadAs returns the model as the interface of a task it does, and refuses
// a task it does not do.
func ExampleLoadAs() {
	ctx := context.Background()
	a, m, err := goformer.LoadAs[goformer.Answerer](ctx, "../shared/fixtures/blip-vqa/model")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Println(a != nil, m.Info().Tasks)
	_, _, err = goformer.LoadAs[goformer.Captioner](ctx, "../shared/fixtures/blip-vqa/model")
	fmt.Println(errors.Is(err, goformer.ErrUnsupported))
	// Output:
	// true [vqa]
	// true
}

// Load picks the family from config.json; Info tells what the model does.
func ExampleLoad() {
	ctx := context.Background()
	m := load(ctx, "../shared/fixtures/blip-vqa/model")
	defer m.Close()
	info := m.Info()
	fmt.Println(info.Family, info.Architecture, info.Tasks)
	// Output: blip BlipForQuestionAnswering [vqa]
}

func ExampleCaptioner() {
	ctx := context.Background()
	m := load(ctx, "../shared/fixtures/blip-caption/model")
	defer m.Close()
	img := open("../shared/media/images/chelsea.png")
	c, err := m.(goformer.Captioner).Caption(ctx, img, goformer.CaptionOptions{MaxNewTokens: 12})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Text)
	// Output: enthusiasticﬂ craftsmen chemical blackness petra puzzles characterised unconscious jurgen wei manifesto
}

func ExampleAnswerer() {
	ctx := context.Background()
	m := load(ctx, "../shared/fixtures/blip-vqa/model")
	defer m.Close()
	img := open("../shared/media/images/chelsea.png")
	a, err := m.(goformer.Answerer).Answer(ctx, img, "what is in the picture?", goformer.AnswerOptions{MaxNewTokens: 8})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Text)
	// Output: dial livelypaper grid quiteы bodied sabre
}

func ExampleClassifier() {
	ctx := context.Background()
	m := load(ctx, "../shared/fixtures/vit/model")
	defer m.Close()
	img := open("../shared/media/images/chelsea.png")
	preds, err := m.(goformer.Classifier).Classify(ctx, img, goformer.ClassifyOptions{TopK: 3})
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range preds {
		fmt.Printf("%.4f %s\n", p.Score, p.Label)
	}
	// Output:
	// 0.3642 galaxy
	// 0.2472 motorcycle
	// 0.1398 astronaut
}

// WithThreads gives a model its own number of goroutines: two models in
// one process, each keeping to its count, with the host's results.
func ExampleWithThreads() {
	ctx := context.Background()
	one, m1, err := goformer.LoadAs[goformer.Classifier](ctx, "../shared/fixtures/vit/model", goformer.WithThreads(1))
	if err != nil {
		log.Fatal(err)
	}
	defer m1.Close()
	two, m2, err := goformer.LoadAs[goformer.Classifier](ctx, "../shared/fixtures/vit/model", goformer.WithThreads(2))
	if err != nil {
		log.Fatal(err)
	}
	defer m2.Close()
	img := open("../shared/media/images/chelsea.png")
	for _, c := range []goformer.Classifier{one, two} {
		preds, err := c.Classify(ctx, img, goformer.ClassifyOptions{TopK: 1})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%.4f %s\n", preds[0].Score, preds[0].Label)
	}
	// Output:
	// 0.3642 galaxy
	// 0.3642 galaxy
}

func ExampleZeroShotClassifier() {
	ctx := context.Background()
	m := load(ctx, "../shared/fixtures/clip/model")
	defer m.Close()
	img := open("../shared/media/images/chelsea.png")
	labels := []string{"a photo of a cat", "a photo of an astronaut", "a cup of coffee", "a page of text"}
	scores, err := m.(goformer.ZeroShotClassifier).ZeroShot(ctx, img, labels, goformer.ZeroShotOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range scores {
		fmt.Printf("%.4f %s\n", s.Probability, s.Label)
	}
	// Output:
	// 0.8457 a page of text
	// 0.1102 a photo of a cat
	// 0.0371 a photo of an astronaut
	// 0.0070 a cup of coffee
}

func ExampleEmbedder() {
	ctx := context.Background()
	m := load(ctx, "../shared/fixtures/clip/model")
	defer m.Close()
	vecs, err := m.(goformer.Embedder).EmbedTexts(ctx, []string{"a photo of a cat", "a cup of coffee"})
	if err != nil {
		log.Fatal(err)
	}
	var norm float32
	for _, x := range vecs[0] {
		norm += x * x
	}
	fmt.Printf("%d vectors of %d values, |v| = %.3f\n", len(vecs), len(vecs[0]), norm)
	// Output: 2 vectors of 48 values, |v| = 1.000
}

func ExampleSearcher() {
	ctx := context.Background()
	m := load(ctx, "../shared/fixtures/clip/model")
	defer m.Close()
	ix, err := m.(goformer.Searcher).IndexDir(ctx, "../shared/media/images", goformer.IndexOptions{
		// Skip files that are no images (or broken ones).
		OnError: func(path string, err error) error { return nil },
	})
	if err != nil {
		log.Fatal(err)
	}
	matches, err := ix.SearchText(ctx, "a cat", 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ix.Len() > 0, len(matches))
	// Output: true 1
}

func ExampleTranscriber() {
	ctx := context.Background()
	m := load(ctx, "../shared/fixtures/wav2vec2/model")
	defer m.Close()
	f, err := os.Open("../shared/media/audio/jfk.flac")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	res, err := goformer.TranscribeReader(ctx, m.(goformer.Transcriber), f, goformer.TranscribeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.2f s: %s…\n", res.Duration, res.Text[:24])
	// Output: 11.00 s: YAYXYXYXYAXAUSICHACAXYAW…
}

// A conversation about an image, the answer streamed as it is generated
// (LLaVA; a real checkpoint is llava-hf/llava-1.5-7b-hf).
func ExampleChatter() {
	ctx := context.Background()
	m := load(ctx, "../shared/fixtures/llava/model")
	defer m.Close()
	img := open("../shared/media/images/chelsea.png")
	msgs := []goformer.Message{{Role: goformer.RoleUser, Text: "What is shown?", Images: []image.Image{img}}}
	res, err := m.(goformer.Chatter).Chat(ctx, msgs, goformer.ChatOptions{
		MaxNewTokens: 3,
		OnToken:      func(piece string) { fmt.Printf("[%s]", piece) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\n%s (%s)\n", res.Text, res.FinishReason)
	// Output:
	// [hombres][ metadata][ différentes]
	// hombres metadata différentes (length)
}
