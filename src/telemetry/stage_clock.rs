//! The stage clock: marker systems between the world's stages note when each ended, so the
//! tick loop can time the stages while the world's own systems stay free of clocks.

use std::time::Instant;

/// When each stage of the current tick ended, written by marker systems placed between the
/// stages (so the world's own systems stay free of clocks).
#[derive(bevy_ecs::prelude::Resource, Debug, Default)]
pub(crate) struct StageClock {
    /// End of ingest, simulate, replicate and persist.
    pub ends: [Option<Instant>; 4],
}

fn mark<const STAGE: usize>(mut clock: bevy_ecs::prelude::ResMut<StageClock>) {
    clock.ends[STAGE] = Some(Instant::now());
}

/// Adds the stage clock to a world app.
pub(crate) struct StageClockPlugin;

impl bevy_app::Plugin for StageClockPlugin {
    fn build(&self, app: &mut bevy_app::App) {
        use bevy_ecs::prelude::IntoScheduleConfigs;
        use plaza_systems::{Stage, Tick};
        app.init_resource::<StageClock>().add_systems(
            Tick,
            (
                mark::<0>.after(Stage::Ingest).before(Stage::Simulate),
                mark::<1>.after(Stage::Simulate).before(Stage::Replicate),
                mark::<2>.after(Stage::Replicate).before(Stage::Persist),
                mark::<3>.after(Stage::Persist).before(Stage::Cleanup),
            ),
        );
    }
}
