"""The pre-registered faithfulness study of issue 21 (PREREGISTRATION.md): study code, not shipped."""
