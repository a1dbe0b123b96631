from .panels import BracketPanel, HedgePanel, RebalancePanel, SettingsPanel
