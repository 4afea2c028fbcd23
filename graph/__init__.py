"""Calendar providers: Microsoft Graph and the embedded local calendar."""
