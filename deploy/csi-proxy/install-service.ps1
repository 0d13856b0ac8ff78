# Installs winkube-csi-proxy as the Windows service "csiproxy" (the name
# upstream csi-proxy uses), started automatically at boot.
#
#   .\install-service.ps1 -Binary C:\k\winkube-csi-proxy.exe [-ExtraArgs '--working-dir=D:\data']
#
# Stop or uninstall an upstream csi-proxy service first: both cannot own the pipes.
param(
    [Parameter(Mandatory = $true)][string]$Binary,
    [string]$KubeletPath = 'C:\var\lib\kubelet',
    [string]$ExtraArgs = '',
    [string]$LogFile = 'C:\var\log\winkube-csi-proxy.log'
)
$ErrorActionPreference = 'Stop'

if (-not (Test-Path -LiteralPath $Binary)) { throw "binary not found: $Binary" }
New-Item -ItemType Directory -Force -Path (Split-Path -Parent $LogFile) | Out-Null
if (Get-Service -Name csiproxy -ErrorAction SilentlyContinue) {
    Stop-Service -Name csiproxy -Force
    sc.exe delete csiproxy | Out-Null
    Start-Sleep -Seconds 2
}

$binPath = "`"$Binary`" --windows-service --kubelet-path=`"$KubeletPath`" --log-format=json --log-file=`"$LogFile`" $ExtraArgs"
New-Service -Name csiproxy -BinaryPathName $binPath -DisplayName 'winkube CSI proxy' `
    -Description 'Privileged storage operations for CSI node plugins (kubernetes-csi/csi-proxy compatible).' `
    -StartupType Automatic | Out-Null
# Restart on failure: 5 s, 10 s, then every 30 s.
sc.exe failure csiproxy reset= 86400 actions= restart/5000/restart/10000/restart/30000 | Out-Null
Start-Service -Name csiproxy
Get-Service -Name csiproxy
