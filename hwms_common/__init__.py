"""What edge, ledger, readers and demo share below the one-way flow: configuration
parsing and the one way an MQTT client of hwms is built. Imports only third-party code."""
