"""The offline plan: the Pulumi program run under Pulumi's own mock runtime, no CLI, no cloud."""
