//go:build ignore

// gen_schema writes schema.json from v1.JSONSchema (go generate ./api/v1).
package main

import (
	"log"
	"os"

	v1 "github.com/koya-dev/koya/api/v1"
)

func main() {
	if err := os.WriteFile("schema.json", v1.JSONSchema(), 0o644); err != nil {
		log.Fatal(err)
	}
}
