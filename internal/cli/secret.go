package cli

import "github.com/spf13/cobra"

// secretCmd manages project secrets.
func (a *app) secretCmd() *cobra.Command { return nil }
