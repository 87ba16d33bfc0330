package TestHost;

# Starts a REAL dispatcher host for the tests: a temporary data directory
# seeded through the operator CLI (four accounts, the "Harbor Island" region),
# `serve` on port 0, found through its readiness line. The binary comes from
# $DISPATCHER_BIN or <repo>/target/debug/dispatcher (built with cargo if missing).

use v5.36;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IPC::Open3 qw(open3);
use IO::Select;
use Symbol qw(gensym);
use Test::More ();

use OpenSim::Dispatcher;

our $REGION   = 'Harbor Island';
our $PASSWORD = 'password';
our $OWNER    = 'Ada Lovelace';
# How long the host may take to print its readiness line.
use constant READY_TIMEOUT_SECONDS => 30;

my $REPO = abs_path(dirname(__FILE__) . '/../../../..');

sub dispatcher_bin () {
    return $ENV{DISPATCHER_BIN} if $ENV{DISPATCHER_BIN};
    my $bin = "$REPO/target/debug/dispatcher";
    system('cargo', 'build', '-p', 'dispatcher', '--manifest-path', "$REPO/Cargo.toml") == 0
        or die "cargo build failed\n"
        unless -x $bin;
    return $bin;
}

sub _cli ($bin, $dir, @args) {
    my $pid = open my $out, '-|';
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDERR, '>', '/dev/null';    # keep the host's logs out of the TAP stream
        exec $bin, '--data-dir', $dir, @args or exit 127;
    }
    my $text = do { local $/; <$out> };
    close $out or die "dispatcher @args failed (status $?)\n";
    $text =~ s/\s+\z//;
    return $text;
}

# start(ini => TEXT): the host's dispatcher.ini (empty by default).
sub start ($class, %opt) {
    my $bin = dispatcher_bin();
    my $dir = tempdir('dispatcher-prove-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my %ids;
    for my $who (['Ada', 'Lovelace', 0], ['Bob', 'Manager', 0], ['Carol', 'Visitor', 0], ['Grace', 'God', 250]) {
        my ($first, $last, $level) = @$who;
        $ids{$first} = _cli($bin, $dir, 'user', 'create', '--first', $first, '--last', $last,
            '--password', $PASSWORD, '--email', lc("$first\@example.org"), '--level', $level);
    }
    _cli($bin, $dir, 'region', 'create', '--name', $REGION, '--owner', $OWNER, '--manager', 'Bob Manager');
    open my $config, '>', "$dir/dispatcher.ini" or die $!;
    print {$config} $opt{ini} // '';
    close $config;
    my $err = gensym;
    open my $null_in, '<', '/dev/null' or die $!;
    my $pid = open3($null_in, my $out, $err, $bin, '--config', "$dir/dispatcher.ini", '--data-dir', $dir,
        'serve', '--http-port', '0', '--udp-port', '0');
    my $select = IO::Select->new($out);
    my $line = $select->can_read(READY_TIMEOUT_SECONDS) ? <$out> : undef;
    my $self = bless { pid => $pid, dir => $dir, ids => \%ids, out => $out, err => $err }, $class;
    my ($http, $udp) = ($line // '') =~ /^dispatcher ready http=(\S+) udp=(\S+)$/
        or do { $self->stop; die "no readiness line from dispatcher (got: " . ($line // 'nothing') . ")\n" };
    $self->{http} = $http;
    $self->{udp}  = $udp;
    # Drain stderr so a chatty host never blocks on a full pipe.
    $self->{drain} = fork // die "fork: $!";
    if ($self->{drain} == 0) { 1 while <$err>; exit 0 }
    return $self;
}

sub url ($self) { "http://$self->{http}/Dispatcher/" }
sub udp ($self) { $self->{udp} }
sub ids ($self) { $self->{ids} }

sub connect ($self, %args) {
    return OpenSim::Dispatcher->connect(url => $self->url, user => $OWNER, password => $PASSWORD,
        scene => $REGION, %args);
}

# Environment for the examples.
sub env ($self) {
    return (OPENSIM_DISPATCHER_URL => $self->url, OPENSIM_USER => $OWNER, OPENSIM_PASSWORD => $PASSWORD,
        OPENSIM_SCENE => $REGION);
}

# The message types the host does NOT offer (InfoResponse.MessageList), so a
# test can skip ONLY while they are missing and runs once the handlers land.
sub missing_messages ($self, @types) {
    my $client = OpenSim::Dispatcher->new(url => $self->url, scene => $REGION);
    return grep { !$client->offers($_) } @types;
}

sub stop ($self) {
    if ($self->{pid}) {
        kill 'TERM', $self->{pid};
        waitpid $self->{pid}, 0;
        $self->{pid} = undef;
    }
    if ($self->{drain}) {
        waitpid $self->{drain}, 0;
        $self->{drain} = undef;
    }
    return;
}

sub DESTROY ($self) {
    local ($@, $!, $?);
    $self->stop;
}

1;
